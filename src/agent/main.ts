/** `nodeplane agent`: enrolls this machine, registers it and keeps it connected. */
export async function runAgent(_args: string[]): Promise<void> {
  throw new Error('nodeplane agent is not implemented yet');
}
