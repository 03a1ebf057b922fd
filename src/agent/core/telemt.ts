/**
 * MTProto (`services.mtproto`) through telemt (specs/core-node.md §3). UNTESTED against a real
 * telemt: it cannot be installed here (not in Debian, no downloads). What is tested is the TOML this
 * writes; the process handling mirrors the core controller's and is exercised only with a stand-in
 * binary.
 *
 * - One telemt instance per mtproto node protocol (the TLS domain is per server, §3.2); accepted
 *   shapes: one instance object, an array of them, or `{instances|inbounds: [...]}`. Instance shape
 *   (spec §3.2 proposal): `{port, listeners?, tlsDomain, extraTlsDomains?, mask?, publicHost?,
 *   publicPort?, useMiddleProxy?, users: [{name, secret, enabled?, expiresAt?, dataQuotaBytes?,
 *   maxTcpConns?, maxUniqueIps?}], nodeProtocolId?, tag?}`.
 * - `<dir>/telemt/<tag>.toml` is always written (0600). Without NODEPLANE_TELEMT_BINARY that is all:
 *   a warning says MTProto is not served.
 * - With a binary: `telemt <file>` per instance; telemt hot-reloads `[access]` from the watched file,
 *   so user-only changes need no restart; anything else restarts that instance. Crashes are
 *   restarted with backoff.
 * - Usage from telemt (cumulative Prometheus counters, §3.4) is NOT collected yet.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { Backoff } from '../shared/backoff.ts';
import { writeFileAtomic } from '../shared/state.ts';

export interface TelemtUser {
  name: string;
  secret: string;
  enabled?: boolean;
  expiresAt?: string | null;
  dataQuotaBytes?: number | null;
  maxTcpConns?: number | null;
  maxUniqueIps?: number | null;
}

export interface TelemtInstance {
  tag?: string;
  nodeProtocolId?: number;
  port: number;
  listeners?: Array<{ ip: string; port?: number; announce?: string }>;
  tlsDomain: string;
  extraTlsDomains?: string[];
  mask?: boolean;
  publicHost?: string;
  publicPort?: number;
  useMiddleProxy?: boolean;
  /** Loopback port for telemt's own API (none when absent). */
  apiPort?: number;
  /** One listen address (Nodeplane's server sends this instead of `listeners`). */
  listen?: string | null;
  users: TelemtUser[];
  /** The complete config.toml, rendered by the server: written verbatim when present. */
  configToml?: string;
}

const toml = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(toml).join(', ')}]`;
  throw new Error(`cannot write ${typeof v} as TOML`);
};

export class TelemtConfigError extends Error {
  override name = 'TelemtConfigError';
}

/** Normalises services.mtproto into instances; throws TelemtConfigError naming the bad field. */
export function telemtInstances(mtproto: unknown): TelemtInstance[] {
  if (mtproto === undefined || mtproto === null) return [];
  const list = Array.isArray(mtproto)
    ? mtproto
    : Array.isArray((mtproto as { instances?: unknown }).instances)
      ? (mtproto as { instances: unknown[] }).instances
      : Array.isArray((mtproto as { inbounds?: unknown }).inbounds)
        ? (mtproto as { inbounds: unknown[] }).inbounds
        : [mtproto];
  return list.map((raw, i) => {
    const inst = raw as TelemtInstance;
    const where = `services.mtproto[${i}]`;
    if (typeof inst?.configToml === 'string' && inst.configToml.trim() !== '') return inst;
    if (!Number.isInteger(inst?.port) || inst.port < 1 || inst.port > 65535) throw new TelemtConfigError(`${where}.port must be a port number`);
    if (typeof inst.tlsDomain !== 'string' || !inst.tlsDomain) throw new TelemtConfigError(`${where}.tlsDomain is required`);
    if (!Array.isArray(inst.users) || inst.users.length === 0)
      throw new TelemtConfigError(`${where}.users must list at least one user (telemt refuses an empty list)`);
    for (const [j, u] of inst.users.entries()) {
      if (typeof u?.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(u.name))
        throw new TelemtConfigError(`${where}.users[${j}].name must match [A-Za-z0-9_.-]{1,64}`);
      if (typeof u.secret !== 'string' || !/^[0-9a-f]{32}$/i.test(u.secret)) throw new TelemtConfigError(`${where}.users[${j}].secret must be 32 hex chars`);
    }
    return inst;
  });
}

function instanceName(inst: TelemtInstance, index: number): string {
  const name = inst.tag ?? (inst.nodeProtocolId !== undefined ? `np-${inst.nodeProtocolId}` : `mtproto-${index}`);
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** telemt config.toml (keys from telemt docs/Config_params/CONFIG_PARAMS.en.md). */
export function renderTelemtToml(inst: TelemtInstance): { head: string; access: string } {
  if (typeof inst.configToml === 'string' && inst.configToml.trim() !== '') {
    // Split where telemt's hot-reloadable part starts, so a users-only change needs no restart.
    const at = inst.configToml.search(/^\[access[.\]]/m);
    return at < 0 ? { head: inst.configToml, access: '' } : { head: inst.configToml.slice(0, at), access: inst.configToml.slice(at) };
  }
  const head: string[] = [];
  head.push('[general]', `use_middle_proxy = ${toml(inst.useMiddleProxy ?? true)}`, '');
  head.push('[general.modes]', 'classic = false', 'secure = false', 'tls = true', '');
  if (inst.publicHost) {
    head.push('[general.links]', `public_host = ${toml(inst.publicHost)}`, `public_port = ${toml(inst.publicPort ?? inst.port)}`, '');
  }
  head.push('[server]', `port = ${toml(inst.port)}`, '');
  for (const l of inst.listeners ?? (inst.listen ? [{ ip: inst.listen }] : [])) {
    head.push('[[server.listeners]]', `ip = ${toml(l.ip)}`);
    if (l.port !== undefined) head.push(`port = ${toml(l.port)}`);
    if (l.announce !== undefined) head.push(`announce = ${toml(l.announce)}`);
    head.push('');
  }
  if (inst.apiPort) head.push('[server.api]', 'enabled = true', `listen = ${toml(`127.0.0.1:${inst.apiPort}`)}`, `whitelist = ${toml(['127.0.0.1/32'])}`, '');
  head.push(
    '[censorship]',
    `tls_domain = ${toml(inst.tlsDomain)}`,
    `tls_domains = ${toml(inst.extraTlsDomains ?? [])}`,
    `mask = ${toml(inst.mask ?? true)}`,
    '',
  );

  const access: string[] = ['[access.users]'];
  for (const u of inst.users) access.push(`${toml(u.name)} = ${toml(u.secret.toLowerCase())}`);
  const table = (name: string, pick: (u: TelemtUser) => unknown) => {
    const rows = inst.users.filter((u) => pick(u) !== undefined && pick(u) !== null);
    if (!rows.length) return;
    access.push('', `[access.${name}]`, ...rows.map((u) => `${toml(u.name)} = ${toml(pick(u))}`));
  };
  table('user_enabled', (u) => u.enabled);
  table('user_expirations', (u) => u.expiresAt);
  table('user_data_quota', (u) => u.dataQuotaBytes);
  table('user_max_tcp_conns', (u) => u.maxTcpConns);
  table('user_max_unique_ips', (u) => u.maxUniqueIps);
  return { head: head.join('\n'), access: `${access.join('\n')}\n` };
}

interface Running {
  child: ChildProcess | null;
  head: string;
  file: string;
  planned: boolean;
  backoff: Backoff;
  timer: NodeJS.Timeout | null;
}

export class TelemtManager {
  private readonly running = new Map<string, Running>();
  private stopped = false;

  constructor(private readonly options: { dir: string; binary: string | null; logger: Logger }) {}

  /** Writes every instance's config and (with a binary) starts, reloads or restarts it. */
  async apply(mtproto: unknown): Promise<{ instances: number; served: boolean }> {
    const instances = telemtInstances(mtproto);
    const dir = path.join(this.options.dir, 'telemt');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const wanted = new Set<string>();
    for (const [i, inst] of instances.entries()) {
      const name = instanceName(inst, i);
      wanted.add(name);
      const { head, access } = renderTelemtToml(inst);
      const file = path.join(dir, `${name}.toml`);
      await writeFileAtomic(file, inst.configToml ? inst.configToml : `${head}\n${access}`, 0o600);
      if (!this.options.binary) continue;
      const current = this.running.get(name);
      if (current && current.head === head && current.child) {
        this.options.logger.info({ instance: name }, 'telemt users changed; telemt reloads [access] from the file');
        continue;
      }
      if (current) await this.stopOne(name);
      this.startOne(name, file, head);
    }
    for (const name of [...this.running.keys()]) if (!wanted.has(name)) await this.stopOne(name);
    for (const file of await readdir(dir)) {
      if (file.endsWith('.toml') && !wanted.has(file.slice(0, -5))) await rm(path.join(dir, file), { force: true });
    }
    if (instances.length && !this.options.binary) {
      this.options.logger.warn({ dir }, 'services.mtproto written, but no telemt binary is configured (NODEPLANE_TELEMT_BINARY): MTProto is not served');
    }
    return { instances: instances.length, served: Boolean(this.options.binary) };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const name of [...this.running.keys()]) await this.stopOne(name);
  }

  private startOne(name: string, file: string, head: string, previous?: Running): void {
    const entry: Running = previous ?? { child: null, head, file, planned: false, backoff: new Backoff({ initialMs: 1_000, maxMs: 60_000 }), timer: null };
    const child = spawn(this.options.binary!, [file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    child.once('error', (error) => this.options.logger.error({ instance: name, err: error.message }, 'telemt could not be started'));
    const startedAt = Date.now();
    child.once('exit', (code, signal) => {
      entry.child = null;
      if (entry.planned || this.stopped) return;
      if (Date.now() - startedAt > 30_000) entry.backoff.reset();
      const delay = entry.backoff.next();
      this.options.logger.error(
        { instance: name, code, signal, stderr: stderr.split('\n').slice(-3).join(' | '), retryInMs: delay },
        'telemt exited; restarting',
      );
      entry.timer = setTimeout(() => this.startOne(name, file, head, entry), delay);
    });
    entry.child = child;
    this.running.set(name, entry);
    this.options.logger.info({ instance: name, pid: child.pid }, 'telemt started');
  }

  private async stopOne(name: string): Promise<void> {
    const entry = this.running.get(name);
    this.running.delete(name);
    if (!entry) return;
    entry.planned = true;
    if (entry.timer) clearTimeout(entry.timer);
    const child = entry.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  }
}
