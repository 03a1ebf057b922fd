/**
 * Who this admin instance is, and the names derived from that (edge-admin spec §6.2).
 * The id outlives restarts so the admin keeps its name, its row and its clusters across a deploy.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { base32Id } from '../../lib/ids.ts';

export const INSTANCE_ID_FILE = 'instance-id';
const INSTANCE_ID = /^[a-z2-7]{12}$/;

/**
 * Reads `<dataDir>/instance-id`, creating it (mode 0600) on first start. A file that exists but
 * does not hold a valid id is an error rather than silently replaced: replacing it would give this
 * instance a new name and orphan the old row until it ages out.
 */
export function loadInstanceId(dataDir: string): string {
  const file = path.join(dataDir, INSTANCE_ID_FILE);
  const existing = readIdFile(file);
  if (existing !== null) return existing;
  mkdirSync(dataDir, { recursive: true });
  try {
    // `wx`: two processes starting on one data dir at once must end up with the same id.
    writeFileSync(file, `${base32Id(12)}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const created = readIdFile(file);
  if (created === null) throw new Error(`${file} could not be read back after creating it`);
  return created;
}

function readIdFile(file: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const id = text.trim();
  if (!INSTANCE_ID.test(id)) {
    throw new Error(`${file} must hold a 12-character lowercase base32 instance id (a-z, 2-7); delete it to generate a new one`);
  }
  return id;
}

// Fixed namespace for admin host ids; any constant works, it only has to never change.
const ADMIN_HOST_NAMESPACE = Buffer.from('6e6f6465706c616e6541646d696e4964', 'hex');

/**
 * RFC 9562 UUIDv5 of the admin name. Nodeplane is its own VPN controller, so there is no Netmaker
 * host; the contract still wants a stable UUID, and deriving it means every instance reports the
 * same value for a peer without storing it.
 */
export function adminHostId(adminName: string): string {
  const hash = createHash('sha1').update(ADMIN_HOST_NAMESPACE).update(adminName).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** DNS-ish names of admins inside the admin cluster; `<domain>` empty means no suffix. */
export class AdminNaming {
  readonly clusterName: string;

  constructor(
    adminClusterName: string,
    private readonly domain: string,
  ) {
    this.clusterName = `admin-cluster-${adminClusterName}`;
  }

  adminName = (id: string): string => `admin-${id}`;

  vpnHostname = (adminName: string): string => (this.domain ? `${adminName}.${this.clusterName}.${this.domain}` : `${adminName}.${this.clusterName}`);

  /** Kept for contract shape: the upstream admin was an Erlang node; Nodeplane has none. */
  erlangNodeName = (adminName: string): string => `admin@${this.vpnHostname(adminName)}`;
}
