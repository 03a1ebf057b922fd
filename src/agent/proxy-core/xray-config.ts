/**
 * Pure transformations of the core config (specs/core-node.md §2):
 * - `v2rayCompat`: rewrites an Xray-style `services.xray` into what Debian's V2Ray 4.34 loads (§2.7);
 * - `renderCoreConfig`: adds the agent's own parts (API inbound first, `api`, `stats`, `policy`,
 *   the API routing rule first);
 * - `planApply`: decides whether a new config can be applied by adding/removing users at runtime
 *   or needs a restart.
 * Nothing here touches the file system or the process.
 */
import { isDeepStrictEqual } from 'node:util';
import { type CoreFlavour, type CoreUser, RUNTIME_USER_PROTOCOLS } from './grpc-api.ts';
import { PRIVATE_CIDRS } from '../../contract/core-node/private-ranges.ts';

export type Json = Record<string, unknown>;
export type XrayConfig = Json & { inbounds?: Json[]; outbounds?: Json[]; routing?: Json; policy?: Json };

/** Tags the agent owns; an inbound, outbound or rule Core sends with these is replaced. */
export const API_INBOUND_TAG = 'np-api-in';
export const API_TAG = 'np-api';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);

/** What V2Ray 4.34 knows (v2fly/v2ray-core v4.34.0 infra/conf); anything else fails to load. */
const V2RAY_INBOUND_PROTOCOLS = new Set(['dokodemo-door', 'http', 'socks', 'vmess', 'vless', 'trojan', 'shadowsocks', 'mtproto']);
const V2RAY_OUTBOUND_PROTOCOLS = new Set(['freedom', 'blackhole', 'dns', 'http', 'socks', 'vmess', 'vless', 'trojan', 'shadowsocks', 'mtproto', 'loopback']);
const V2RAY_NETWORKS = new Set(['tcp', 'kcp', 'mkcp', 'ws', 'websocket', 'http', 'h2', 'domainsocket', 'ds', 'quic']);
const V2RAY_SS_METHODS = new Set(['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305', 'chacha20-ietf-poly1305', 'none', 'plain']);
const V2RAY_SNIFF = new Set(['http', 'tls', 'fakedns', 'fakedns+others']);

export interface Rewritten {
  config: XrayConfig;
  /** One line per thing dropped or changed in a way users may notice. */
  warnings: string[];
}

/**
 * Xray → V2Ray 4.34 (§2.7): `raw`→`tcp`, `tunnel`→`dokodemo-door`, VLESS `flow` dropped, REALITY/XTLS
 * and grpc/xhttp/httpupgrade inbounds skipped (V2Ray would either refuse them or, worse, silently
 * run REALITY without security), shadowsocks reduced to single-user, `type:"field"` on every rule,
 * `geoip:private` expanded and other geo rules dropped. Never mutates its input.
 */
export function v2rayCompat(input: XrayConfig): Rewritten {
  const config = structuredClone(input) as XrayConfig;
  const warnings: string[] = [];

  const inbounds: Json[] = [];
  for (const inbound of asArray(config.inbounds)) {
    const label = `inbound ${String(inbound.tag ?? inbound.port ?? '?')}`;
    if (inbound.protocol === 'tunnel') inbound.protocol = 'dokodemo-door';
    if (!V2RAY_INBOUND_PROTOCOLS.has(String(inbound.protocol))) {
      warnings.push(`${label} skipped: V2Ray 4.34 has no ${String(inbound.protocol)} inbound`);
      continue;
    }
    const stream = rewriteStream(inbound, label, warnings);
    if (stream === 'skip') continue;
    if (isObject(inbound.sniffing) && Array.isArray(inbound.sniffing.destOverride)) {
      const kept = inbound.sniffing.destOverride.filter((d) => V2RAY_SNIFF.has(String(d)));
      if (kept.length !== inbound.sniffing.destOverride.length) {
        warnings.push(`${label}: sniffing ${inbound.sniffing.destOverride.filter((d) => !V2RAY_SNIFF.has(String(d))).join(', ')} dropped`);
      }
      inbound.sniffing.destOverride = kept;
    }
    const settings = isObject(inbound.settings) ? inbound.settings : (inbound.settings = {});
    if (inbound.protocol === 'vless') {
      for (const client of asArray(settings.clients)) delete client.flow;
      settings.decryption ??= 'none';
    }
    if (inbound.protocol === 'shadowsocks' && !singleUserShadowsocks(settings, label, warnings)) continue;
    inbounds.push(inbound);
  }
  if (config.inbounds !== undefined) config.inbounds = inbounds;

  const outbounds: Json[] = [];
  const droppedOutbounds = new Set<string>();
  for (const outbound of asArray(config.outbounds)) {
    const label = `outbound ${String(outbound.tag ?? outbound.protocol ?? '?')}`;
    if (!V2RAY_OUTBOUND_PROTOCOLS.has(String(outbound.protocol)) || rewriteStream(outbound, label, warnings) === 'skip') {
      if (!V2RAY_OUTBOUND_PROTOCOLS.has(String(outbound.protocol))) warnings.push(`${label} skipped: V2Ray 4.34 has no ${String(outbound.protocol)} outbound`);
      if (typeof outbound.tag === 'string') droppedOutbounds.add(outbound.tag);
      continue;
    }
    if (outbound.protocol === 'vless' && isObject(outbound.settings)) {
      for (const server of asArray(outbound.settings.vnext)) for (const user of asArray(server.users)) delete user.flow;
    }
    outbounds.push(outbound);
  }
  if (config.outbounds !== undefined) config.outbounds = outbounds;

  if (isObject(config.routing)) {
    const rules: Json[] = [];
    for (const rule of asArray(config.routing.rules)) {
      if (typeof rule.outboundTag === 'string' && droppedOutbounds.has(rule.outboundTag)) {
        warnings.push(`routing rule to skipped outbound ${rule.outboundTag} dropped`);
        continue;
      }
      rule.type ??= 'field';
      if (!dropGeoMatchers(rule, warnings)) continue;
      rules.push(rule);
    }
    config.routing.rules = rules;
  }
  // V2Ray accepts api.listen but never listens on it; the agent's own API inbound is what works.
  if (isObject(config.api)) delete config.api.listen;
  return { config, warnings };
}

/** Rewrites streamSettings in place for V2Ray; 'skip' when the transport/security cannot run there. */
function rewriteStream(handler: Json, label: string, warnings: string[]): 'ok' | 'skip' {
  const stream = handler.streamSettings;
  if (!isObject(stream)) return 'ok';
  if (stream.network === 'raw') stream.network = 'tcp';
  if (stream.rawSettings !== undefined) {
    stream.tcpSettings ??= stream.rawSettings;
    delete stream.rawSettings;
  }
  if (stream.network !== undefined && !V2RAY_NETWORKS.has(String(stream.network))) {
    warnings.push(`${label} skipped: V2Ray 4.34 has no ${String(stream.network)} transport`);
    return 'skip';
  }
  if (stream.security === 'reality' || stream.security === 'xtls') {
    warnings.push(`${label} skipped: V2Ray 4.34 has no ${String(stream.security)} (it would run the inbound without security)`);
    return 'skip';
  }
  return 'ok';
}

/** V2Ray 4.34 shadowsocks takes exactly one user, in `settings` itself (§2.7). */
function singleUserShadowsocks(settings: Json, label: string, warnings: string[]): boolean {
  const clients = asArray(settings.clients);
  if (clients.length > 1) {
    warnings.push(`${label} skipped: V2Ray 4.34 shadowsocks serves one user, this inbound has ${clients.length}`);
    return false;
  }
  const client = clients[0];
  if (client) {
    for (const key of ['method', 'password', 'email', 'level'] as const) {
      if (client[key] !== undefined) settings[key] = client[key];
    }
  }
  delete settings.clients;
  if (typeof settings.password !== 'string' || settings.password === '') {
    warnings.push(`${label} skipped: no shadowsocks user`);
    return false;
  }
  const method = String(settings.method ?? '');
  if (!V2RAY_SS_METHODS.has(method)) {
    warnings.push(`${label} skipped: V2Ray 4.34 has no shadowsocks method ${method}`);
    return false;
  }
  return true;
}

/** false = the rule matched only on geo data V2Ray here cannot load, and is dropped. */
function dropGeoMatchers(rule: Json, warnings: string[]): boolean {
  let matchers = 0;
  let dropped = false;
  for (const key of ['domain', 'domains', 'ip', 'source'] as const) {
    const list = rule[key];
    if (!Array.isArray(list)) continue;
    const kept: unknown[] = [];
    for (const entry of list) {
      if (entry === 'geoip:private') kept.push(...PRIVATE_CIDRS);
      else if (typeof entry === 'string' && /^(geoip|geosite|ext|ext-ip):/.test(entry)) {
        warnings.push(`routing rule ${key} ${entry} dropped: no geo data files for V2Ray here`);
        dropped = true;
      } else kept.push(entry);
    }
    if (kept.length) rule[key] = kept;
    else delete rule[key];
  }
  if (!dropped) return true;
  for (const key of ['domain', 'domains', 'ip', 'source', 'port', 'sourcePort', 'network', 'protocol', 'user', 'inboundTag', 'attrs']) {
    if (rule[key] !== undefined) matchers++;
  }
  if (matchers === 0) warnings.push('routing rule dropped: nothing left to match on');
  return matchers > 0;
}

/** Levels the clients use: each needs its own stats switches in `policy.levels`. */
function clientLevels(config: XrayConfig): Set<number> {
  const levels = new Set<number>([0]);
  for (const inbound of asArray(config.inbounds)) {
    const settings = isObject(inbound.settings) ? inbound.settings : {};
    for (const client of asArray(settings.clients)) if (Number.isInteger(client.level)) levels.add(client.level as number);
    if (Number.isInteger(settings.level)) levels.add(settings.level as number);
  }
  return levels;
}

export interface RenderOptions {
  flavour: CoreFlavour;
  apiPort: number;
}

/**
 * The file the core runs: Core's config (made V2Ray-compatible for that flavour) plus the agent's
 * API inbound first, `api`, `stats: {}`, per-user and per-outbound stats policy and the API rule first.
 */
export function renderCoreConfig(given: XrayConfig, options: RenderOptions): Rewritten {
  const { config, warnings } = options.flavour === 'v2ray' ? v2rayCompat(given) : { config: structuredClone(given) as XrayConfig, warnings: [] };
  config.log ??= { loglevel: 'warning' };
  config.inbounds = [
    { tag: API_INBOUND_TAG, listen: '127.0.0.1', port: options.apiPort, protocol: 'dokodemo-door', settings: { address: '127.0.0.1' } },
    ...asArray(config.inbounds).filter((i) => i.tag !== API_INBOUND_TAG),
  ];
  config.outbounds = asArray(config.outbounds).filter((o) => o.tag !== API_TAG);
  if (config.outbounds.length === 0) config.outbounds.push({ tag: 'direct', protocol: 'freedom' });
  config.api = { tag: API_TAG, services: ['HandlerService', 'StatsService'] };
  config.stats = {};
  const policy = isObject(config.policy) ? config.policy : {};
  const levels = isObject(policy.levels) ? policy.levels : {};
  for (const level of clientLevels(config)) {
    const current = isObject(levels[String(level)]) ? (levels[String(level)] as Json) : {};
    levels[String(level)] = { ...current, statsUserUplink: true, statsUserDownlink: true };
  }
  const system = isObject(policy.system) ? policy.system : {};
  config.policy = {
    ...policy,
    levels,
    system: { ...system, statsInboundUplink: true, statsInboundDownlink: true, statsOutboundUplink: true, statsOutboundDownlink: true },
  };
  const routing = isObject(config.routing) ? config.routing : {};
  config.routing = {
    ...routing,
    rules: [{ type: 'field', inboundTag: [API_INBOUND_TAG], outboundTag: API_TAG }, ...asArray(routing.rules).filter((r) => r.outboundTag !== API_TAG)],
  };
  return { config, warnings };
}

/** The users an inbound lists, keyed by email (clients without an email cannot be altered at runtime). */
function inboundUsers(inbound: Json): CoreUser[] {
  const settings = isObject(inbound.settings) ? inbound.settings : {};
  return asArray(settings.clients).map((c) => ({
    email: typeof c.email === 'string' ? c.email : '',
    level: Number.isInteger(c.level) ? (c.level as number) : 0,
    id: typeof c.id === 'string' ? c.id : undefined,
    flow: typeof c.flow === 'string' && c.flow !== '' ? c.flow : undefined,
    password: typeof c.password === 'string' ? c.password : undefined,
  }));
}

export interface UserChange {
  tag: string;
  protocol: string;
  remove: string[];
  add: CoreUser[];
}

export type ApplyPlan = { kind: 'none' } | { kind: 'users'; changes: UserChange[]; added: number; removed: number } | { kind: 'restart'; reason: string };

function withoutClients(config: XrayConfig): XrayConfig {
  const copy = {
    ...config,
    inbounds: asArray(config.inbounds).map((i) => ({ ...i, settings: isObject(i.settings) ? { ...i.settings, clients: undefined } : i.settings })),
  };
  return JSON.parse(JSON.stringify(copy)) as XrayConfig;
}

/**
 * Between two rendered configs: nothing, user changes the core can take at runtime (every other
 * byte identical, only clients of vmess/vless/trojan inbounds differ, each with an email), or restart.
 */
export function planApply(current: XrayConfig, next: XrayConfig): ApplyPlan {
  if (isDeepStrictEqual(current, next)) return { kind: 'none' };
  if (!isDeepStrictEqual(withoutClients(current), withoutClients(next))) return { kind: 'restart', reason: 'more than the users changed' };
  const before = asArray(current.inbounds);
  const changes: UserChange[] = [];
  let added = 0;
  let removed = 0;
  for (const [index, inbound] of asArray(next.inbounds).entries()) {
    const oldUsers = inboundUsers(before[index]!);
    const newUsers = inboundUsers(inbound);
    if (isDeepStrictEqual(oldUsers, newUsers)) continue;
    const tag = typeof inbound.tag === 'string' ? inbound.tag : '';
    const protocol = String(inbound.protocol);
    if (!tag) return { kind: 'restart', reason: 'users changed on an inbound without a tag' };
    if (!RUNTIME_USER_PROTOCOLS.has(protocol)) return { kind: 'restart', reason: `users changed on ${protocol} inbound ${tag}, which has no runtime user API` };
    if ([...oldUsers, ...newUsers].some((u) => !u.email)) return { kind: 'restart', reason: `inbound ${tag} has a client without an email` };
    const oldByEmail = new Map(oldUsers.map((u) => [u.email.toLowerCase(), u]));
    const newByEmail = new Map(newUsers.map((u) => [u.email.toLowerCase(), u]));
    if (oldByEmail.size !== oldUsers.length || newByEmail.size !== newUsers.length) {
      return { kind: 'restart', reason: `inbound ${tag} lists an email twice` };
    }
    const change: UserChange = { tag, protocol, remove: [], add: [] };
    for (const [email, user] of oldByEmail) {
      const replacement = newByEmail.get(email);
      if (!replacement || !isDeepStrictEqual(user, replacement)) change.remove.push(user.email);
    }
    for (const [email, user] of newByEmail) {
      const previous = oldByEmail.get(email);
      if (!previous || !isDeepStrictEqual(previous, user)) change.add.push(user);
    }
    added += change.add.length;
    removed += change.remove.length;
    changes.push(change);
  }
  return { kind: 'users', changes, added, removed };
}
