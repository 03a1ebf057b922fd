/**
 * What VPN users may reach through a node. Private, loopback, link-local, CGNAT and other
 * special-purpose destinations are blocked by default: through a subscription a user would
 * otherwise reach the node's own loopback (the core's gRPC API, which reads and resets every
 * counter) and its LAN. An operator opens a specific destination on purpose with the node's
 * `allowed_destinations` (`ip`, `ip/prefix`, either with `:port`; IPv6 with a port in brackets).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { XrayRule } from '../../../contract/core-node/config.ts';
import { PRIVATE_CIDRS } from '../../../contract/core-node/private-ranges.ts';

/** Blocked for VPN users unless an operator opens a destination (see contract/core-node/private-ranges.ts). */
export const BLOCKED_CIDRS: readonly string[] = PRIVATE_CIDRS;

export interface Destination {
  /** Address or CIDR as Xray's `ip` matcher takes it. */
  ip: string;
  port: number | null;
}

const FORM = /^(?:\[(?<v6>[^\]]+)\]:(?<v6port>\d{1,5})|(?<v4>[0-9.]+(?:\/\d{1,2})?)(?::(?<v4port>\d{1,5}))?|(?<bare>[0-9A-Fa-f:.]+(?:\/\d{1,3})?))$/;

/** Parses one allow-list entry; a string is the reason it is refused. */
export function parseDestination(text: string): Destination | string {
  const m = FORM.exec(text)?.groups;
  if (!m) return 'must be ip, ip/prefix, ip:port or ip/prefix:port (IPv6 with a port as [ip]:port)';
  const ip = m.v6 ?? m.v4 ?? m.bare!;
  const portText = m.v6port ?? m.v4port;
  const [address, prefixText] = ip.split('/') as [string, string | undefined];
  const v4 = isIPv4(address);
  if (!v4 && !isIPv6(address)) return `${address} is not an IP address`;
  if (m.v4 !== undefined && !v4) return `${address} is not an IPv4 address`;
  if (prefixText !== undefined && Number(prefixText) > (v4 ? 32 : 128)) return `prefix /${prefixText} is too long for ${v4 ? 'IPv4' : 'IPv6'}`;
  const port = portText === undefined ? null : Number(portText);
  if (port !== null && (port < 1 || port > 65535)) return `port ${port} is not between 1 and 65535`;
  return { ip: ip.toLowerCase(), port };
}

/** Per-entry problems keyed by JSON path, for a ValidationError. */
export function destinationErrors(entries: string[], field = 'allowed_destinations'): Record<string, string[]> {
  const errors: Record<string, string[]> = {};
  entries.forEach((entry, i) => {
    const parsed = parseDestination(entry);
    if (typeof parsed === 'string') errors[`${field}/${i}`] = [parsed];
  });
  return errors;
}

/**
 * The rules that go first in every rendered config: the operator's openings to `direct`, then the
 * block. Rules are matched in order, so no operator rule, outbound or default route can carry user
 * traffic to a blocked address; the agent's API rule (its own inbound only) is placed before these.
 */
export function safetyRules(allowed: string[]): XrayRule[] {
  const byPort = new Map<number | null, string[]>();
  for (const entry of allowed) {
    const d = parseDestination(entry);
    // Stored entries were validated; one that no longer parses opens nothing.
    if (typeof d === 'string') continue;
    byPort.set(d.port, [...(byPort.get(d.port) ?? []), d.ip]);
  }
  const open: XrayRule[] = [...byPort.entries()]
    .sort(([a], [b]) => (a ?? 0) - (b ?? 0))
    .map(([port, ips]) => ({ type: 'field', ip: ips, ...(port === null ? {} : { port: String(port) }), outboundTag: 'direct' }));
  return [...open, { type: 'field', ip: BLOCKED_CIDRS, outboundTag: 'block' }];
}
