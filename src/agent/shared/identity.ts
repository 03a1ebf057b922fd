import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureDataDir, readJsonFile, writeFileAtomic } from './state.ts';
import type { IdType } from '../../contract/admin/nodes.ts';

/**
 * The node id (edge-admin spec §6.1): `persistent` when derived from the host (machine-id or DMI
 * product UUID, normalised to UUID form), else `random` (a fresh UUID). Either way it is saved in the
 * data dir, so the id survives a changed machine-id and a random id survives restarts.
 */

export interface Identity {
  node_id: string;
  id_type: IdType;
}

export const IDENTITY_FILE = 'identity.json';

export const MACHINE_ID_SOURCES = ['/etc/machine-id', '/var/lib/dbus/machine-id', '/sys/class/dmi/id/product_uuid'] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** 32 hex digits (dashes, case and surrounding space ignored) → 8-4-4-4-12; anything else → null. */
export function normaliseMachineId(raw: string): string | null {
  const hex = raw.trim().toLowerCase().replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/.test(hex)) return null;
  // Firmware placeholders: every machine with such a board would share one node id.
  if (/^0+$/.test(hex) || /^f+$/.test(hex)) return null;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export async function readMachineId(sources: readonly string[] = MACHINE_ID_SOURCES): Promise<string | null> {
  for (const source of sources) {
    try {
      const id = normaliseMachineId(await readFile(source, 'utf8'));
      if (id) return id;
    } catch {
      // Missing or unreadable (DMI needs root): try the next source.
    }
  }
  return null;
}

export interface ResolveIdentityOptions {
  dataDir: string;
  /** NODEPLANE_AGENT_NODE_ID: lets many agents share one machine; such ids are not host-derived. */
  override?: string | null;
  sources?: readonly string[];
}

export async function resolveIdentity(options: ResolveIdentityOptions): Promise<Identity> {
  const file = path.join(options.dataDir, IDENTITY_FILE);
  let identity: Identity | null = null;
  if (options.override) {
    identity = { node_id: options.override.toLowerCase(), id_type: 'random' };
  } else {
    identity = parseIdentity(await readJsonFile(file));
    if (identity) return identity;
    const machineId = await readMachineId(options.sources);
    identity = machineId ? { node_id: machineId, id_type: 'persistent' } : { node_id: randomUUID(), id_type: 'random' };
  }
  const saved = parseIdentity(await readJsonFile(file).catch(() => undefined));
  if (!saved || saved.node_id !== identity.node_id || saved.id_type !== identity.id_type) {
    await ensureDataDir(options.dataDir);
    await writeFileAtomic(file, `${JSON.stringify(identity, null, 2)}\n`, 0o600);
  }
  return identity;
}

function parseIdentity(raw: unknown): Identity | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const { node_id, id_type } = raw as Record<string, unknown>;
  if (typeof node_id !== 'string' || !UUID.test(node_id)) return null;
  if (id_type !== 'persistent' && id_type !== 'random') return null;
  return { node_id, id_type };
}
