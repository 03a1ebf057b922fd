import type { ModuleDeps } from '../../context.ts';

export class CommandService {
  constructor(readonly deps: ModuleDeps) {}

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
