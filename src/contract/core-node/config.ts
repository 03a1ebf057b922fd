/**
 * `NodeConfig`, the body of `GET /node/config/latest` (specs/core-node.md §2–§4). Core renders the
 * user-facing parts of the node's Xray and telemt configs; the agent merges its own API, stats and
 * policy blocks (§2.1) and keeps `clientMap` with the applied revision for traffic attribution.
 */
import { type TUnsafe, Type } from 'typebox';
import { Nullable } from '../types.ts';

/** An enum of strings with `type: string`, so it can be made `nullable` (OpenAPI 3.0). */
export const StringEnum = <const T extends readonly string[]>(values: T): TUnsafe<T[number]> => Type.Unsafe<T[number]>({ type: 'string', enum: [...values] });

/** Lowercase, as Xray names them (§7 open question 1). */
export const VPN_PROTOCOLS = ['vless', 'vmess', 'trojan', 'shadowsocks', 'mtproto'] as const;
export const VpnProtocol = Type.Enum([...VPN_PROTOCOLS]);
export type VpnProtocol = (typeof VPN_PROTOCOLS)[number];

export interface ClientRef {
  userId: number;
  subscriptionId: number | null;
}

export interface XrayInbound {
  tag: string;
  listen?: string;
  port: number;
  protocol: Exclude<VpnProtocol, 'mtproto'>;
  settings: Record<string, unknown>;
  streamSettings?: Record<string, unknown>;
  sniffing: { enabled: boolean; destOverride: string[] };
}

export interface XrayOutbound {
  tag: string;
  protocol: string;
  settings: Record<string, unknown>;
  streamSettings?: Record<string, unknown>;
}

export interface XrayRule {
  type: 'field';
  outboundTag: string;
  [matcher: string]: unknown;
}

export interface XrayServiceConfig {
  inbounds: XrayInbound[];
  outbounds: XrayOutbound[];
  routing: { domainStrategy: string; rules: XrayRule[] };
}

export interface MtProtoUser {
  /** The subscription's link UUID; the agent resolves it through `clientMap`. */
  name: string;
  /** 32 hex chars: the link UUID without hyphens (§1.1). */
  secret: string;
}

/** One telemt instance per node (§3.2): users share the port and the Fake-TLS domains. */
export interface MtProtoServiceConfig {
  nodeProtocolId: number;
  tag: string;
  port: number;
  listen: string | null;
  publicHost: string;
  publicPort: number;
  tlsDomain: string;
  extraTlsDomains: string[];
  mask: boolean;
  useMiddleProxy: boolean;
  users: MtProtoUser[];
  /** The complete telemt `config.toml` for these settings, ready to write. */
  configToml: string;
}

export interface NodeConfig {
  revision: number;
  clientMap: Record<string, ClientRef>;
  services: { xray?: XrayServiceConfig; mtproto?: MtProtoServiceConfig };
}

const Open = Type.Object({}, { additionalProperties: true });

/** For the OpenAPI document only: the body is sent pre-serialized, byte-identical to what was hashed. */
export const NodeConfigSchema = Type.Object({
  revision: Type.Integer(),
  clientMap: Type.Object({}, { additionalProperties: Type.Object({ userId: Type.Integer(), subscriptionId: Nullable(Type.Integer()) }) }),
  services: Type.Object({ xray: Type.Optional(Open), mtproto: Type.Optional(Open) }),
});
