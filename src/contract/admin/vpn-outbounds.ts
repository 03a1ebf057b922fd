/**
 * Admin API: node outbounds (`/api/v1/vpn/node_outbounds`), the egress routes of a Core node's
 * Xray beyond the built-in `direct` and `block` (specs/core-node.md §1.4, §2.6), with the traffic
 * counters nodes report through `POST /node/outbound-usage`.
 */
import { Type, type Static } from 'typebox';
import { ListQuery, Timestamp, Uuid } from '../types.ts';
import { OutboundTag } from './vpn-nodes.ts';

export const OutboundProtocol = Type.Enum(['freedom', 'blackhole', 'socks', 'http', 'vless', 'vmess', 'trojan', 'shadowsocks', 'wireguard', 'dns', 'loopback']);

/** Raw Xray JSON for the outbound's `settings` / `streamSettings`, passed through as given. */
const XrayObject = Type.Object({}, { additionalProperties: true, maxProperties: 100 });

export const NodeOutbound = Type.Object({
  id: Type.Integer(),
  node_id: Uuid,
  tag: Type.String(),
  protocol: Type.String(),
  settings: Type.Object({}, { additionalProperties: true }),
  stream_settings: Type.Object({}, { additionalProperties: true }),
  traffic_bytes_up: Type.Integer(),
  traffic_bytes_down: Type.Integer(),
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type NodeOutbound = Static<typeof NodeOutbound>;

export const NodeOutboundCreateRequest = Type.Object(
  {
    node_id: Uuid,
    tag: OutboundTag,
    protocol: OutboundProtocol,
    settings: Type.Optional(XrayObject),
    stream_settings: Type.Optional(XrayObject),
  },
  { additionalProperties: false },
);
export type NodeOutboundCreateRequest = Static<typeof NodeOutboundCreateRequest>;

export const NodeOutboundUpdateRequest = Type.Object(
  {
    tag: Type.Optional(OutboundTag),
    protocol: Type.Optional(OutboundProtocol),
    settings: Type.Optional(XrayObject),
    stream_settings: Type.Optional(XrayObject),
  },
  { additionalProperties: false },
);
export type NodeOutboundUpdateRequest = Static<typeof NodeOutboundUpdateRequest>;

const StringFilter = Type.String({ maxLength: 500 });

export const NodeOutboundListQuery = ListQuery({
  node_id: Type.Optional(Uuid),
  tag: Type.Optional(StringFilter),
  protocol: Type.Optional(StringFilter),
});
export type NodeOutboundListQuery = Static<typeof NodeOutboundListQuery>;
