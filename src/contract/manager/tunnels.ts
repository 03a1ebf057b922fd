/**
 * The manager's tunnels (manager spec §2.4, §5.3): `/api/v1/tunnels…` and
 * `/api/v1/nodes/{id}/tunnels`. A tunnel joins an entry edge to an exit edge through a relay or
 * directly; its secrets (encryption key, bind secret, PSK) are never part of any response.
 */
import { Type, type Static } from 'typebox';
import { Nullable, Timestamp, Uuid } from '../types.ts';

export const TunnelProtocol = Type.Enum(['tcp', 'udp']);
export const TunnelMode = Type.Enum(['relay', 'direct']);
export const TunnelStatus = Type.Enum(['pending', 'active', 'error', 'disabled']);
export const PushStatus = Type.Enum(['pending', 'pushed', 'failed']);

const TunnelName = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\x00-\\x1F\\x7F]+$' });
/** `ip:port` (IPv6 in brackets); the service checks the syntax and names the field. */
const SocketAddress = Type.String({ minLength: 1, maxLength: 256 });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const FlowIds = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 256, uniqueItems: true });

export const Tunnel = Type.Object({
  id: Uuid,
  name: Type.String(),
  protocol: TunnelProtocol,
  mode: TunnelMode,
  /** The entry edge: it listens on `ingress_listen_port` (its own leg runs `direction: "egress"`). */
  ingress_node_id: Uuid,
  ingress_listen_port: Type.Integer(),
  /** The exit edge: it forwards to `egress_forward_addr`. */
  egress_node_id: Uuid,
  egress_forward_addr: Type.String(),
  egress_peer_addr: Nullable(Type.String()),
  relay_addr: Nullable(Type.String()),
  relay_node_id: Nullable(Uuid),
  status: TunnelStatus,
  associated_flow_ids: Nullable(Type.Array(Type.String())),
  ingress_push_status: PushStatus,
  egress_push_status: PushStatus,
  relay_push_status: Nullable(PushStatus),
  ingress_push_error: Nullable(Type.String()),
  egress_push_error: Nullable(Type.String()),
  relay_push_error: Nullable(Type.String()),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type Tunnel = Static<typeof Tunnel>;

/** Relay mode needs `relay_addr` and `relay_node_id`; direct mode needs `egress_peer_addr`. */
export const TunnelCreateRequest = Type.Object(
  {
    name: TunnelName,
    protocol: TunnelProtocol,
    mode: TunnelMode,
    ingress_node_id: Uuid,
    ingress_listen_port: Port,
    egress_node_id: Uuid,
    egress_forward_addr: SocketAddress,
    egress_peer_addr: Type.Optional(Nullable(SocketAddress)),
    relay_addr: Type.Optional(Nullable(SocketAddress)),
    relay_node_id: Type.Optional(Nullable(Uuid)),
    associated_flow_ids: Type.Optional(Nullable(FlowIds)),
  },
  { additionalProperties: false },
);
export type TunnelCreateRequest = Static<typeof TunnelCreateRequest>;

/** Mode, protocol and the two edges are fixed at creation; `status` switches a tunnel off and on. */
export const TunnelUpdateRequest = Type.Object(
  {
    name: Type.Optional(TunnelName),
    status: Type.Optional(Type.Enum(['pending', 'disabled'])),
    ingress_listen_port: Type.Optional(Port),
    egress_forward_addr: Type.Optional(SocketAddress),
    egress_peer_addr: Type.Optional(Nullable(SocketAddress)),
    relay_addr: Type.Optional(Nullable(SocketAddress)),
    relay_node_id: Type.Optional(Nullable(Uuid)),
    associated_flow_ids: Type.Optional(Nullable(FlowIds)),
  },
  { additionalProperties: false },
);
export type TunnelUpdateRequest = Static<typeof TunnelUpdateRequest>;

export const TunnelIdParams = Type.Object({ id: Uuid }, { additionalProperties: false });
export const NodeIdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

export const TunnelList = Type.Object({ tunnels: Type.Array(Tunnel) });
export type TunnelList = Static<typeof TunnelList>;

/** Create and update answer the tunnel plus one warning per leg that could not be pushed. */
export const TunnelWithWarnings = Type.Object({ ...Tunnel.properties, warnings: Type.Array(Type.String()) });
export type TunnelWithWarnings = Static<typeof TunnelWithWarnings>;

export const TunnelDeleted = Type.Object({ deleted: Type.Literal(true), warnings: Type.Array(Type.String()) });
export type TunnelDeleted = Static<typeof TunnelDeleted>;
