/**
 * Admin API: Core nodes (`/api/v1/vpn/nodes`), the VPN servers that run Xray and telemt and pull
 * their config from `/node/*` (specs/core-node.md §1.2). A node is created here first; its one-time
 * registration code is what the agent presents to `POST /node/register`.
 */
import { Type, type Static } from 'typebox';
import { DateBound, ListQuery, Nullable, NullableTimestamp, Timestamp, Uuid } from '../types.ts';
import { HostName, IpAddress } from '../core-node/node.ts';
import { IntId } from './vpn-users.ts';

export const CoreNodeStatus = Type.Enum(['pending', 'online', 'offline', 'error', 'disabled']);
export const SyncStatus = Type.Enum(['pending', 'synced', 'failed']);

/** Xray tags of operator outbounds; `direct`, `block`, `api` and `np-*` are Core's own. */
export const OutboundTag = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' });

const PORT_LIST = '^[0-9]{1,5}(-[0-9]{1,5})?(,[0-9]{1,5}(-[0-9]{1,5})?)*$';

/** One Xray field rule (§2.6), rendered with `type: "field"` in list order; first match wins. */
export const RoutingRule = Type.Object(
  {
    outbound_tag: OutboundTag,
    /** Matches traffic entering these node protocols (inboundTag `np-<id>`). */
    node_protocol_ids: Type.Optional(Type.Array(IntId, { maxItems: 100, uniqueItems: true })),
    domain: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { maxItems: 1000 })),
    ip: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 1000 })),
    port: Type.Optional(Type.String({ maxLength: 200, pattern: PORT_LIST })),
    source: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 1000 })),
    network: Type.Optional(Type.Enum(['tcp', 'udp', 'tcp,udp'])),
    protocol: Type.Optional(Type.Array(Type.Enum(['http', 'tls', 'quic', 'bittorrent']), { maxItems: 4, uniqueItems: true })),
  },
  { additionalProperties: false },
);
export type RoutingRule = Static<typeof RoutingRule>;
export const RoutingRules = Type.Array(RoutingRule, { maxItems: 200 });

/**
 * Destinations VPN users may reach although they are private, loopback, link-local or CGNAT
 * (blocked by default): `ip`, `ip/prefix`, `ip:port`, `ip/prefix:port`; IPv6 with a port as `[ip]:port`.
 */
export const AllowedDestinations = Type.Array(Type.String({ minLength: 2, maxLength: 64, pattern: '^[0-9A-Fa-f.:/\\[\\]]+$' }), {
  maxItems: 100,
  uniqueItems: true,
});

export const NodeLastError = Type.Object({
  message: Type.String(),
  code: Nullable(Type.String()),
  details: Nullable(Type.Object({}, { additionalProperties: true })),
  at: Timestamp,
});

export const CoreNode = Type.Object({
  id: Uuid,
  /** The integer `nodeId` of the Core wire format. */
  core_id: Type.Integer(),
  name: Type.String(),
  /** Public prefix of the registration code, for recognising it; the code itself is shown once. */
  code: Type.String(),
  host: Type.String(),
  ip: Nullable(Type.String()),
  region: Nullable(Type.String()),
  status: Type.String(),
  sync_status: Type.String(),
  revision: Type.Integer(),
  applied_revision: Nullable(Type.Integer()),
  config_hash: Nullable(Type.String()),
  last_error: Nullable(NodeLastError),
  /** True once an agent has registered and holds a live auth key. */
  registered: Type.Boolean(),
  routing_rules: Type.Array(RoutingRule),
  allowed_destinations: Type.Array(Type.String()),
  protocol_count: Type.Integer(),
  outbound_count: Type.Integer(),
  last_seen_at: NullableTimestamp,
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type CoreNode = Static<typeof CoreNode>;

/** Create and reset_code answer with the registration code, once. */
export const CoreNodeWithCode = Type.Object({ ...CoreNode.properties, registration_code: Type.String() });
export type CoreNodeWithCode = Static<typeof CoreNodeWithCode>;

export const CoreNodeCreateRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    /** Public DNS name (or address) that share links and telemt links use. */
    host: HostName,
    ip: Type.Optional(Nullable(IpAddress)),
    region: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
    /** Default: block BitTorrent. */
    routing_rules: Type.Optional(RoutingRules),
    /** Default: none; private destinations stay blocked. */
    allowed_destinations: Type.Optional(AllowedDestinations),
  },
  { additionalProperties: false },
);
export type CoreNodeCreateRequest = Static<typeof CoreNodeCreateRequest>;

export const CoreNodeUpdateRequest = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    host: Type.Optional(HostName),
    ip: Type.Optional(Nullable(IpAddress)),
    region: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
    /** true → status `disabled` (heartbeats no longer bring it online); false → back to live status. */
    disabled: Type.Optional(Type.Boolean()),
    routing_rules: Type.Optional(RoutingRules),
    allowed_destinations: Type.Optional(AllowedDestinations),
  },
  { additionalProperties: false },
);
export type CoreNodeUpdateRequest = Static<typeof CoreNodeUpdateRequest>;

export const CoreNodeIdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

const StringFilter = Type.String({ maxLength: 500 });

export const CoreNodeListQuery = ListQuery({
  name: Type.Optional(StringFilter),
  host: Type.Optional(StringFilter),
  region: Type.Optional(StringFilter),
  status: Type.Optional(StringFilter),
  sync_status: Type.Optional(StringFilter),
  code: Type.Optional(StringFilter),
  core_id: Type.Optional(IntId),
  registered: Type.Optional(Type.Boolean()),
  has_error: Type.Optional(Type.Boolean()),
  last_seen_at__gte: Type.Optional(DateBound),
  last_seen_at__lte: Type.Optional(DateBound),
});
export type CoreNodeListQuery = Static<typeof CoreNodeListQuery>;
