import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * What the agent keeps between starts. `api_token` is null between a successful key verification and
 * the first successful registration: the key use is already spent then, so the next start must go
 * straight to registration instead of verifying again. `join_ticket` is verify's `netmaker_key`,
 * kept until that first registration, which presents it (the VPN join of spec §6.4 step 3).
 */
export interface AgentState {
  node_id: string;
  network_name: string;
  admin_urls: string[];
  api_token: string | null;
  proxy_password: string | null;
  derp_map_url: string | null;
  join_ticket: string | null;
}

const STATE_FILE = 'state.json';

export const statePath = (dataDir: string) => path.join(dataDir, STATE_FILE);

export async function ensureDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
}

/**
 * Writes via a temp file in the same directory + rename, so a crash leaves either the old or the new
 * file, never a torn one. The temp file is created with `mode` so the secret is never world-readable,
 * not even for the moment between create and chmod.
 */
export async function writeFileAtomic(file: string, content: string, mode = 0o600): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  // The umask may have narrowed the create mode; an existing target's mode is irrelevant after rename.
  await chmod(tmp, mode);
  try {
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  try {
    const dir = await open(path.dirname(file), 'r');
    await dir.sync().finally(() => dir.close());
  } catch {
    // Directory fsync is not supported everywhere; the rename itself is still atomic.
  }
}

export async function readJsonFile(file: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON; move it away to start over`);
  }
}

const isString = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isNullableString = (v: unknown): v is string | null => v === null || v === undefined || typeof v === 'string';

export async function loadState(dataDir: string): Promise<AgentState | null> {
  const file = statePath(dataDir);
  const raw = await readJsonFile(file);
  if (raw === undefined) return null;
  const s = raw as Record<string, unknown>;
  if (
    typeof raw !== 'object' ||
    raw === null ||
    !isString(s.node_id) ||
    !isString(s.network_name) ||
    !Array.isArray(s.admin_urls) ||
    !s.admin_urls.every((u) => typeof u === 'string') ||
    !isNullableString(s.api_token) ||
    !isNullableString(s.proxy_password) ||
    !isNullableString(s.derp_map_url) ||
    !isNullableString(s.join_ticket)
  ) {
    throw new Error(`${file} does not hold a valid agent state; move it away to enroll again`);
  }
  return {
    node_id: s.node_id,
    network_name: s.network_name,
    admin_urls: s.admin_urls as string[],
    api_token: (s.api_token as string | null | undefined) || null,
    proxy_password: (s.proxy_password as string | null | undefined) ?? null,
    derp_map_url: (s.derp_map_url as string | null | undefined) ?? null,
    join_ticket: (s.join_ticket as string | null | undefined) || null,
  };
}

export async function saveState(dataDir: string, state: AgentState): Promise<void> {
  await ensureDataDir(dataDir);
  await writeFileAtomic(statePath(dataDir), `${JSON.stringify(state, null, 2)}\n`, 0o600);
}
