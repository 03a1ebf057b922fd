import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import type { Naming } from '../clusters/naming.ts';

export interface RegistrationPolicy {
  adminUrls: () => string[];
  derpMapUrl: string | null;
}

export class NodeService {
  constructor(
    readonly db: Kysely<Database>,
    readonly outbox: Outbox,
    readonly naming: Naming,
    readonly secrets: SecretBox,
    readonly policy: RegistrationPolicy,
  ) {}

  /** Starts background work (e.g. flushing coalesced last_seen_at writes). */
  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
