/**
 * The node kinds and how each kind's own statuses read in the shared set. A kind's face keeps
 * speaking its own statuses (`healthy`, `disabled`…); the fleet view, its filters and anything
 * that compares nodes across kinds speak FLEET_STATUSES.
 */
import { FLEET_STATUSES, type FleetStatus, type NodeKind } from '../../../contract/admin/fleet.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';

export const EDGE_AGENT_KIND = 'edge-agent' satisfies NodeKind;
export const CORE_KIND = 'core' satisfies NodeKind;
export const MANAGER_EDGE_KIND = 'manager-edge' satisfies NodeKind;
export const MANAGER_RELAY_KIND = 'manager-relay' satisfies NodeKind;

const identity = Object.fromEntries(FLEET_STATUSES.map((s) => [s, s])) as Record<FleetStatus, FleetStatus>;

/**
 * Every stored status of each kind → the shared status. Kinds whose face has not landed yet store
 * shared statuses as they are; their module replaces the identity when it brings its own words.
 */
export const STATUS_MAP: Record<NodeKind, Record<string, FleetStatus>> = {
  // `unhealthy` is the agent's own report of a problem while it still talks to us.
  'edge-agent': { healthy: 'online', unhealthy: 'degraded', unreachable: 'offline' },
  // `disabled` is the operator's switch: the node serves no users, whatever its heartbeat says.
  core: { pending: 'pending', online: 'online', offline: 'offline', error: 'error', disabled: 'offline' },
  mesh: identity,
  // The manager's own statuses are the shared set (manager spec §5.3).
  'manager-edge': identity,
  'manager-relay': identity,
  pasarguard: identity,
};

/** A status the kind does not know (a newer version wrote it, or a bug) reads as `error`. */
export function sharedStatus(kind: string, status: string): FleetStatus {
  return STATUS_MAP[kind as NodeKind]?.[status] ?? 'error';
}

/** The kind's stored statuses that read as one of `wanted`. */
export function kindStatuses(kind: NodeKind, wanted: readonly FleetStatus[]): string[] {
  return Object.entries(STATUS_MAP[kind])
    .filter(([, shared]) => wanted.includes(shared))
    .map(([own]) => own);
}

const NODE_HOSTNAME = new RegExp(`^node-(${UUID_PATTERN.source.replace(/^\^|\$$/g, '')})$`, 'i');
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/**
 * Why `name` cannot name node `id` of `kind`, or null. An edge node's name is a host label
 * (upstream it is `node-<id>`), so it stays a DNS label and never poses as another node's
 * `node-<uuid>`; other kinds' names are display text.
 */
export function nameError(kind: string, id: string, name: string): string | null {
  if (name.trim() === '') return "can't be blank";
  if (kind !== EDGE_AGENT_KIND) return null;
  if (name.length > 63 || !DNS_LABEL.test(name))
    return 'must be a DNS label: 1-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit';
  if (UUID_PATTERN.test(name)) return 'cannot be a node id';
  const posing = NODE_HOSTNAME.exec(name);
  if (posing && posing[1]!.toLowerCase() !== id.toLowerCase()) return "cannot be another node's default name";
  return null;
}
