/**
 * SSRF defence for webhook URLs (edge-admin spec §11.4, plus a delivery-time check upstream lacks).
 *
 * Create time: refuse metadata hostnames, IP literals in a denied range, and hostnames with any
 * A/AAAA record in one. Delivery time: resolve again, refuse the same way, and hand back the one
 * vetted address so the HTTP client connects to exactly that (no second lookup an attacker's DNS
 * could answer differently). IPv4 is parsed in every spelling the WHATWG URL parser and
 * inet_aton accept, and IPv6 forms that embed an IPv4 address are judged by that address.
 */
import { lookup } from 'node:dns/promises';
import { isIPv6 } from 'node:net';
import { withTimeout } from '../../lib/timeout.ts';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address a hostname resolves to. Injectable so tests can play a rebinding DNS server. */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/** The URL pointed somewhere it must not: no retry can fix that. */
export class SsrfRefusedError extends Error {}

const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.azure.internal', 'metadata.tencentyun.com']);

const v4 = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

/** IANA special-purpose IPv4 ranges no webhook has a reason to reach (RFC 6890 and successors). */
const DENIED_V4: Array<[number, number]> = [
  [v4(0, 0, 0, 0), 8], // "this network"; 0.0.0.0 reaches this host
  [v4(10, 0, 0, 0), 8],
  [v4(100, 64, 0, 0), 10], // shared address space (CGNAT): cluster ranges, Alibaba's metadata at 100.100.100.200
  [v4(127, 0, 0, 0), 8],
  [v4(169, 254, 0, 0), 16],
  [v4(172, 16, 0, 0), 12],
  [v4(192, 0, 0, 0), 24], // IETF protocol assignments
  [v4(192, 0, 2, 0), 24], // TEST-NET-1
  [v4(192, 168, 0, 0), 16],
  [v4(198, 18, 0, 0), 15], // benchmarking
  [v4(198, 51, 100, 0), 24], // TEST-NET-2
  [v4(203, 0, 113, 0), 24], // TEST-NET-3
  [v4(224, 0, 0, 0), 4], // multicast
  [v4(240, 0, 0, 0), 4], // reserved, and 255.255.255.255 (broadcast) with it
];

/**
 * A hostname as an IPv4 address (uint32), or null when it is not one. Accepts what both the WHATWG
 * URL parser and inet_aton accept: 1–4 parts, each decimal, octal (leading 0) or hex (0x); the
 * last part fills the remaining bytes (`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`); one
 * trailing dot.
 */
export function parseIPv4(host: string): number | null {
  const parts = host.split('.');
  if (parts.length > 1 && parts.at(-1) === '') parts.pop();
  if (parts.length === 0 || parts.length > 4) return null;
  const numbers: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0[xX][0-9a-fA-F]*$/.test(part)) value = part.length === 2 ? 0 : parseInt(part.slice(2), 16);
    else if (/^0[0-7]+$/.test(part)) value = parseInt(part.slice(1), 8);
    else if (/^(0|[1-9][0-9]*)$/.test(part)) value = Number(part);
    else return null;
    if (!Number.isFinite(value)) return null;
    numbers.push(value);
  }
  const last = numbers.pop()!;
  if (numbers.some((n) => n > 255)) return null;
  if (last >= 256 ** (4 - numbers.length)) return null;
  let address = 0;
  for (const [i, n] of numbers.entries()) address += n * 256 ** (3 - i);
  return address + last;
}

export const formatIPv4 = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** Eight 16-bit groups, or null. Brackets and a zone id (`%eth0`) are ignored. */
export function parseIPv6(text: string): number[] | null {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  s = s.replace(/%.*$/, '');
  if (!isIPv6(s)) return null;
  // A dotted IPv4 tail (`::ffff:127.0.0.1`) is two hex groups spelled differently.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const n = parseIPv4(dotted[1]!);
    if (n === null) return null;
    s = `${s.slice(0, -dotted[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, rest] = s.includes('::') ? (s.split('::') as [string, string]) : [s, null];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = rest === null ? [] : parse(rest);
  const zeros = 8 - left.length - right.length;
  if (zeros < 0 || (rest === null && zeros !== 0)) return null;
  return [...left, ...new Array<number>(zeros).fill(0), ...right];
}

function inV4(address: number, [network, prefix]: [number, number]): boolean {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (address & mask) >>> 0 === network;
}

const deniedV4 = (address: number): boolean => DENIED_V4.some((range) => inV4(address, range));

/** The IPv4 address an IPv6 address stands for, when it is one of the forms that embed one. */
function embeddedV4(g: number[]): number | null {
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const low = ((g[6]! << 16) | g[7]!) >>> 0;
  if (zeros(0, 5) && g[5] === 0xffff) return low; // ::ffff:a.b.c.d (mapped)
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return low; // ::ffff:0:a.b.c.d (translated)
  if (zeros(0, 6) && low > 1) return low; // ::a.b.c.d (compatible, deprecated)
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return low; // 64:ff9b::/96 (NAT64)
  if (g[0] === 0x2002) return ((g[1]! << 16) | g[2]!) >>> 0; // 2002::/16 (6to4)
  return null;
}

function deniedV6(g: number[]): boolean {
  const embedded = embeddedV4(g);
  if (embedded !== null && deniedV4(embedded)) return true;
  if (g.slice(0, 7).every((x) => x === 0) && g[7]! <= 1) return true; // ::1 and :: (both reach this host)
  if ((g[0]! & 0xffc0) === 0xfe80) return true; // fe80::/10
  if ((g[0]! & 0xfe00) === 0xfc00) return true; // fc00::/7
  if ((g[0]! & 0xff00) === 0xff00) return true; // ff00::/8
  if (g[0] === 0x2001 && g[1] === 0x0db8) return true; // 2001:db8::/32 documentation
  if (g[0] === 0x2001 && g[1] === 0) return true; // 2001::/32 Teredo: tunnels to an address it only obfuscates
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return true; // 64:ff9b:1::/48 local-use NAT64 (RFC 8215)
  return false;
}

/** An IP literal in any accepted spelling, as `{address, family}`; null for a hostname. */
export function ipLiteral(host: string): ResolvedAddress | null {
  const n = parseIPv4(host);
  if (n !== null) return { address: formatIPv4(n), family: 4 };
  if (parseIPv6(host)) return { address: host.replace(/^\[(.*)\]$/, '$1'), family: 6 };
  return null;
}

/** True when connecting to `address` would reach a denied range. */
export function isDeniedAddress(address: string): boolean {
  const n = parseIPv4(address);
  if (n !== null) return deniedV4(n);
  const groups = parseIPv6(address);
  // Something that is neither is no address we could connect to safely.
  return groups === null || deniedV6(groups);
}

/** Lower-cased, unbracketed, without the trailing dot: the form the deny list is written in. */
function normalizeHost(url: URL): string {
  return url.hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.+$/, '');
}

export class SsrfGuard {
  constructor(
    /** WEBHOOK_ALLOW_PRIVATE_IPS. Mutable so tests can create a URL and then judge its delivery. */
    public allowPrivateIps: boolean,
    public resolve: Resolver = systemResolver,
    private readonly lookupTimeoutMs = 5000,
  ) {}

  /** Create-time verdict: the refusal message, or null. Hosts that do not resolve pass (§11.4). */
  async refusal(url: URL): Promise<string | null> {
    if (this.allowPrivateIps) return null;
    const host = normalizeHost(url);
    if (METADATA_HOSTS.has(host)) return `host ${host} is on the SSRF deny list`;
    const literal = ipLiteral(host);
    let addresses: ResolvedAddress[];
    if (literal) addresses = [literal];
    else {
      try {
        addresses = await withTimeout(this.resolve(host), this.lookupTimeoutMs, `DNS lookup of ${host}`);
      } catch {
        return null;
      }
    }
    const denied = addresses.find((a) => isDeniedAddress(a.address));
    return denied ? `host ${host} resolves to ${denied.address} which is in a denied range` : null;
  }

  /**
   * Delivery-time: the one address to connect to. Throws SsrfRefusedError when the URL now
   * points into a denied range, and a plain Error when the name does not resolve (retryable).
   */
  async pin(url: URL): Promise<ResolvedAddress> {
    const host = normalizeHost(url);
    const literal = ipLiteral(host);
    if (!this.allowPrivateIps) {
      if (METADATA_HOSTS.has(host)) throw new SsrfRefusedError(`host ${host} is on the SSRF deny list`);
      if (literal && isDeniedAddress(literal.address)) {
        throw new SsrfRefusedError(`host ${host} resolves to ${literal.address} which is in a denied range`);
      }
    }
    if (literal) return literal;
    const addresses = await withTimeout(this.resolve(host), this.lookupTimeoutMs, `DNS lookup of ${host}`);
    if (addresses.length === 0) throw new Error(`${host} has no address`);
    if (!this.allowPrivateIps) {
      // Every record, not only the one we use: a name with one private record is refused outright.
      const denied = addresses.find((a) => isDeniedAddress(a.address));
      if (denied) throw new SsrfRefusedError(`host ${host} resolves to ${denied.address} which is in a denied range`);
    }
    return addresses[0]!;
  }
}
