/**
 * The manager face's tunnels. `send` is the node socket layer's command call; the composition
 * root wires it (with `nodeConnected`/`nodeDisconnected` on the manager channel's connects and
 * closes) when the manager face lands.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import type { ModuleManifest } from '../../manifest.ts';
import type { FleetService } from '../inventory/fleet.service.ts';
import { type SendCommand, TunnelService } from './tunnel.service.ts';

export interface TunnelsModuleDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  secrets: SecretBox;
  fleet: Pick<FleetService, 'get'>;
  send: SendCommand;
}

/** MGR re-pushes legs that are not pushed every 30 s. */
const RETRY_EVERY_MS = 30_000;

export function tunnelsModule(deps: TunnelsModuleDeps): ModuleManifest<{ tunnels: TunnelService }> {
  const tunnels = new TunnelService(deps);
  return {
    services: { tunnels },
    schedules: [{ name: 'tunnels.retry-pending', scope: 'once-in-fleet', everyMs: RETRY_EVERY_MS, run: () => tunnels.retryPending() }],
  };
}
