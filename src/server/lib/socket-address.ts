import { isIP } from 'node:net';

export interface SocketAddress {
  ip: string;
  port: number;
}

/** `ip:port` with a literal IP (IPv6 in brackets), the address syntax of the manager's nodes; null otherwise. */
export function parseSocketAddress(text: string): SocketAddress | null {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!match) return null;
  const ip = (match[1] ?? match[2])!;
  const port = Number(match[3]);
  if (port > 65535 || isIP(ip) !== (match[1] ? 6 : 4)) return null;
  return { ip, port };
}
