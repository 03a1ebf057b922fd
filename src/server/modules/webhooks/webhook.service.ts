import type { ModuleDeps } from '../../context.ts';

export class WebhookService {
  constructor(readonly deps: ModuleDeps) {}

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
