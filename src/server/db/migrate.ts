import { type Kysely, type Migration, Migrator } from 'kysely';
import * as foundation from './migrations/0001_foundation.ts';
import * as nodeMetrics from './migrations/0002_node_metrics.ts';
import * as joinTickets from './migrations/0003_join_tickets.ts';
import * as jobs from './migrations/0004_jobs.ts';
import * as commands from './migrations/0005_commands.ts';
import * as ssh from './migrations/0006_ssh.ts';
import * as selfUpdates from './migrations/0007_self_updates.ts';
import * as webhooks from './migrations/0008_webhooks.ts';
import * as vpn from './migrations/0009_vpn.ts';
import * as jobLeaseOwner from './migrations/0010_job_lease_owner.ts';
import * as vpnNodeSafety from './migrations/0011_vpn_node_safety.ts';
import * as nodeChannels from './migrations/0012_node_channels.ts';
import * as fleetView from './migrations/0013_fleet_view.ts';
import * as operators from './migrations/0014_operators.ts';
import * as auditSettings from './migrations/0015_audit_settings.ts';
import * as nodeScope from './migrations/0016_node_scope.ts';
import * as managerNodes from './migrations/0017_manager_nodes.ts';
import * as tunnels from './migrations/0018_tunnels.ts';

/** Listed by hand so the set is explicit and works without a filesystem scan. */
const migrations: Record<string, Migration> = {
  '0001_foundation': foundation,
  '0002_node_metrics': nodeMetrics,
  '0003_join_tickets': joinTickets,
  '0004_jobs': jobs,
  '0005_commands': commands,
  '0006_ssh': ssh,
  '0007_self_updates': selfUpdates,
  '0008_webhooks': webhooks,
  '0009_vpn': vpn,
  '0010_job_lease_owner': jobLeaseOwner,
  '0011_vpn_node_safety': vpnNodeSafety,
  '0012_node_channels': nodeChannels,
  '0013_fleet_view': fleetView,
  '0014_operators': operators,
  '0015_audit_settings': auditSettings,
  '0016_node_scope': nodeScope,
  '0017_manager_nodes': managerNodes,
  '0018_tunnels': tunnels,
};

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
