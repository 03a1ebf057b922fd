/**
 * The Database interface Kysely sees, assembled from the row types in `tables/` (one file per table
 * group). Times are ISO-8601 UTC text, booleans are 0/1 integers and JSON is text, identically on
 * SQLite and Postgres.
 */
import type { Insertable, Selectable, Updateable } from 'kysely';
import type { ClusterTables, ClustersTable, EnrollmentKeysTable } from './tables/clusters.ts';
import type { ChannelTables } from './tables/channels.ts';
import type { CommandTables } from './tables/commands.ts';
import type { EventTables, EventsTable } from './tables/events.ts';
import type { InstanceTables, InstancesTable } from './tables/instances.ts';
import type { JobTables } from './tables/jobs.ts';
import type { OperatorTables } from './tables/operators.ts';
import type { AuditSettingsTables } from './tables/audit-settings.ts';
import type { ManagerTables } from './tables/manager.ts';
import type { AliasesTable, EdgeNodesTable, NodeTables, NodesTable } from './tables/nodes.ts';
import type { SelfUpdateTables } from './tables/self-updates.ts';
import type { SshTables } from './tables/ssh.ts';
import type { VpnTables } from './tables/vpn.ts';
import type { WebhookTables } from './tables/webhooks.ts';
import type { TunnelTables } from './tables/tunnels.ts';

export interface Database
  extends
    InstanceTables,
    ClusterTables,
    NodeTables,
    EventTables,
    JobTables,
    CommandTables,
    SshTables,
    SelfUpdateTables,
    WebhookTables,
    VpnTables,
    ChannelTables,
    OperatorTables,
    AuditSettingsTables,
    ManagerTables,
    TunnelTables {}

export type ClusterRow = Selectable<ClustersTable>;
export type EnrollmentKeyRow = Selectable<EnrollmentKeysTable>;
export type NodeRow = Selectable<NodesTable>;
export type NewNode = Insertable<NodesTable>;
export type NodeUpdate = Updateable<NodesTable>;
export type EdgeNodeRow = Selectable<EdgeNodesTable>;
export type AliasRow = Selectable<AliasesTable>;
export type InstanceRow = Selectable<InstancesTable>;
export type EventRow = Selectable<EventsTable>;
