/**
 * Which proxy core a binary is. Xray and V2Ray take different arguments and speak different gRPC
 * names, and V2Ray 4.34 cannot serve half of what Xray can, so a wrong guess fails in confusing
 * ways; the binary's own `-version` line says which it is.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { CoreFlavour } from './grpc-api.ts';

/** The core binary is missing, not executable, or not a core we know. */
export class CoreBinaryError extends Error {
  override name = 'CoreBinaryError';
  constructor(
    message: string,
    readonly code: 'CORE_BINARY_NOT_FOUND' | 'CORE_BINARY_UNKNOWN',
  ) {
    super(message);
  }
}

/** Throws CoreBinaryError naming the path when `binary` cannot be executed. */
export async function assertCoreBinary(binary: string, searchPath = process.env.PATH ?? ''): Promise<void> {
  const candidates = binary.includes('/')
    ? [binary]
    : searchPath
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.join(dir, binary));
  for (const file of candidates) {
    try {
      await access(file, fsConstants.X_OK);
      return;
    } catch {
      // not this one
    }
  }
  throw new CoreBinaryError(`core binary not found at ${binary}`, 'CORE_BINARY_NOT_FOUND');
}

/** `Xray 1.8.24 (Xray, Penetrates Everything.) …` / `V2Ray 4.34.0 (user) …` → flavour and version. */
export function parseCoreVersion(output: string): { flavour: CoreFlavour; version: string } | null {
  const match = /^\s*(Xray|V2Ray)\s+v?(\d[\w.+-]*)/m.exec(output);
  if (!match) return null;
  return { flavour: match[1] === 'Xray' ? 'xray' : 'v2ray', version: match[2]! };
}

/** Runs `<binary> -version` (both cores accept it) and reads the flavour from the first line. */
export async function detectCoreFlavour(binary: string): Promise<{ flavour: CoreFlavour; version: string }> {
  await assertCoreBinary(binary);
  const output = await new Promise<string>((resolve) => {
    let text = '';
    const child = spawn(binary, ['-version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.once('error', (error) => resolve(`cannot run ${binary}: ${error.message}`));
    child.once('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
  const found = parseCoreVersion(output);
  if (!found) {
    const first = output.split('\n').find((l) => l.trim()) ?? '(no output)';
    throw new CoreBinaryError(
      `cannot tell whether ${binary} is Xray or V2Ray from its -version output ("${first.trim().slice(0, 200)}"); set --core-flavour`,
      'CORE_BINARY_UNKNOWN',
    );
  }
  return found;
}
