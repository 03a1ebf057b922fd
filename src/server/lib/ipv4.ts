/** IPv4 CIDR arithmetic for cluster ranges and the per-cluster address allocator. */

export interface Cidr {
  network: number;
  prefix: number;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

export function parseCidr(text: string): Cidr | null {
  const match = CIDR.exec(text);
  if (!match) return null;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return null;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  return { network: address - (address % size(prefix)), prefix };
}

export const size = (prefix: number): number => 2 ** (32 - prefix);

export const formatIp = (value: number): string => [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');

export const formatCidr = (cidr: Cidr): string => `${formatIp(cidr.network)}/${cidr.prefix}`;

export const firstOctet = (cidr: Cidr): number => Math.floor(cidr.network / 2 ** 24);

const contains = (outer: Cidr, address: number): boolean => address >= outer.network && address < outer.network + size(outer.prefix);

/** Either network address lies inside the other range. */
export const overlaps = (a: Cidr, b: Cidr): boolean => contains(a, b.network) || contains(b, a.network);

/** Every subnet of `prefix` inside `pool`, in address order. */
export function* subnets(pool: Cidr, prefix: number): Generator<Cidr> {
  if (prefix < pool.prefix) return;
  const step = size(prefix);
  for (let network = pool.network; network < pool.network + size(pool.prefix); network += step) {
    yield { network, prefix };
  }
}

/**
 * Host addresses a cluster hands to nodes: skips the network and broadcast addresses and the
 * first `reserved` hosts (kept for admins and gateways).
 */
export function hostRange(cidr: Cidr, reserved: number): { first: number; last: number } {
  return { first: cidr.network + 1 + reserved, last: cidr.network + size(cidr.prefix) - 2 };
}
