/**
 * The NodeConfig generator (specs/core-node.md §2–§4): a pure function of one node's rows (its
 * enabled protocols, the subscriptions granted them, its outbounds and routing rules) and the time.
 * Output order is fixed (protocols, outbounds and subscriptions by id, keys in a set order, operator
 * JSON with sorted keys), so equal state renders byte-identical text and one hash.
 */
import { createHash } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { ClientRef, MtProtoServiceConfig, XrayInbound, XrayOutbound, XrayRule, XrayServiceConfig } from '../../../contract/core-node/config.ts';
import type { RoutingRule } from '../../../contract/admin/vpn-nodes.ts';
import { safetyRules } from './destinations.ts';
import { clientEmail, isSs2022, mtprotoSecret, protocolTag, ssUserPassword } from './credentials.ts';
import { type EligibilityFacts, isEligible } from './eligibility.ts';
import type { NodeOutboundsTable, NodeProtocolsTable } from '../../db/tables/vpn.ts';
import { toToml } from './toml.ts';

export type ProtocolRow = Selectable<NodeProtocolsTable>;
export type OutboundRow = Selectable<NodeOutboundsTable>;

export interface GrantedSubscription extends EligibilityFacts {
  id: number;
  user_id: number;
  link_uuid: string;
  ss_password_enc: string;
}

export interface RenderInput {
  host: string;
  /** JSON text of RoutingRule[] */
  routingRules: string;
  /** JSON text of the destinations opened past the private-address block (destinations.ts). */
  allowedDestinations: string;
  /** Enabled protocols only, by id. */
  protocols: ProtocolRow[];
  /** Subscriptions granted each protocol (any status), by subscription id. */
  grants: Map<number, GrantedSubscription[]>;
  /** By id. */
  outbounds: OutboundRow[];
}

/** Opens a sealed secret; null = leave it out (shown as `[redacted]`). */
export type Reveal = (sealed: string) => string | null;

const REDACTED = '[redacted]';
/** For operators' previews: the config as served, without its secrets. */
export const redact: Reveal = () => null;

let revealing: Reveal | null = null;
let sawSecret = false;

/**
 * A secret in a rendered config, kept sealed in the object tree. Serialised without a Reveal it
 * stays sealed, which is what the config hash covers (sealed text stands for its plaintext, so
 * revisions need no key); serialised with one it becomes the plaintext the node needs.
 */
class Sealed {
  constructor(
    readonly sealed: string,
    /** Turns the plaintext into the value the config carries (e.g. an SS-2022 user PSK). */
    readonly derive?: (plain: string) => unknown,
  ) {}

  toJSON(): unknown {
    sawSecret = true;
    if (!revealing) return this.sealed;
    const plain = revealing(this.sealed);
    if (plain === null) return REDACTED;
    return this.derive ? this.derive(plain) : plain;
  }
}

export interface RenderedConfig {
  clientMap: Record<string, ClientRef>;
  services: { xray?: XrayServiceConfig; mtproto?: MtProtoServiceConfig };
}

/** Stored settings JSON (written by protocol-spec.ts). */
export interface StoredTls {
  server_name?: string;
  alpn?: string[];
  fingerprint?: string;
  certificate_file?: string;
  key_file?: string;
  certificate?: string;
  key_enc?: string;
}
export interface StoredReality {
  target: string;
  server_names: string[];
  private_key_enc: string;
  public_key: string;
  short_ids: string[];
  fingerprint?: string;
  spider_x?: string;
  xver?: number;
}
export interface StoredTransport {
  path?: string;
  host?: string;
  service_name?: string;
  mode?: string;
}
export interface StoredMtproto {
  tls_domain: string;
  extra_tls_domains: string[];
  mask: boolean;
  use_middle_proxy: boolean;
}

/** Same input, same text: object keys sorted at every level. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
  return out;
}

const parse = <T>(text: string | null): T => (text ? JSON.parse(text) : {}) as T;
const pemLines = (pem: string): string[] => pem.trim().split(/\r?\n/);

/** Only raw/tcp with TLS or REALITY can carry XTLS Vision (§2.2). */
export const visionAllowed = (transport: string | null, security: string): boolean => transport === 'tcp' && (security === 'tls' || security === 'reality');

function streamSettings(p: ProtocolRow): Record<string, unknown> {
  const transport = p.transport ?? 'tcp';
  const t = parse<StoredTransport>(p.transport_settings);
  // `tcp`, not `raw`: both Xray and V2Ray read it.
  const stream: Record<string, unknown> = { network: transport, security: p.security };
  if (transport === 'ws') stream.wsSettings = { path: t.path ?? '/', ...(t.host ? { host: t.host } : {}) };
  else if (transport === 'grpc') stream.grpcSettings = { serviceName: t.service_name ?? '' };
  else if (transport === 'xhttp') stream.xhttpSettings = { path: t.path ?? '/', ...(t.host ? { host: t.host } : {}), mode: t.mode ?? 'auto' };
  else if (transport === 'httpupgrade') stream.httpupgradeSettings = { path: t.path ?? '/', ...(t.host ? { host: t.host } : {}) };
  if (p.security === 'tls') {
    const tls = parse<StoredTls>(p.tls_settings);
    const certificate = tls.certificate_file
      ? { certificateFile: tls.certificate_file, keyFile: tls.key_file }
      : { certificate: pemLines(tls.certificate ?? ''), key: tls.key_enc ? new Sealed(tls.key_enc, pemLines) : [] };
    stream.tlsSettings = {
      ...(tls.server_name ? { serverName: tls.server_name } : {}),
      alpn: tls.alpn ?? ['h2', 'http/1.1'],
      certificates: [certificate],
    };
  } else if (p.security === 'reality') {
    const r = parse<StoredReality>(p.reality_settings);
    stream.realitySettings = {
      show: false,
      target: r.target,
      xver: r.xver ?? 0,
      serverNames: r.server_names,
      privateKey: new Sealed(r.private_key_enc),
      shortIds: r.short_ids,
    };
  }
  return stream;
}

function inbound(p: ProtocolRow, clients: GrantedSubscription[]): XrayInbound | null {
  const tag = protocolTag(p.id);
  let settings: Record<string, unknown>;
  if (p.protocol === 'vless') {
    const flow = p.flow && visionAllowed(p.transport, p.security) ? p.flow : null;
    settings = {
      clients: clients.map((s) => ({ id: s.link_uuid, email: clientEmail(s.link_uuid, p.id), level: 0, ...(flow ? { flow } : {}) })),
      decryption: 'none',
    };
  } else if (p.protocol === 'vmess') {
    settings = { clients: clients.map((s) => ({ id: s.link_uuid, email: clientEmail(s.link_uuid, p.id), level: 0 })) };
  } else if (p.protocol === 'trojan') {
    settings = { clients: clients.map((s) => ({ password: s.link_uuid, email: clientEmail(s.link_uuid, p.id), level: 0 })) };
  } else if (p.protocol === 'shadowsocks') {
    // Xray refuses a multi-user Shadowsocks inbound without users; the port opens with the first one.
    if (clients.length === 0) return null;
    const method = p.ss_method!;
    const ss2022 = isSs2022(method);
    const derive = ss2022 ? (secret: string) => ssUserPassword(secret, method) : undefined;
    settings = {
      network: 'tcp,udp',
      method,
      ...(ss2022 ? { password: new Sealed(p.ss_server_key_enc!) } : {}),
      clients: clients.map((s) => ({
        password: new Sealed(s.ss_password_enc, derive),
        ...(ss2022 ? {} : { method }),
        email: clientEmail(s.link_uuid, p.id),
        level: 0,
      })),
    };
  } else {
    return null;
  }
  return {
    tag,
    ...(p.listen ? { listen: p.listen } : {}),
    port: p.port,
    protocol: p.protocol as XrayInbound['protocol'],
    settings,
    ...(p.protocol === 'shadowsocks' ? {} : { streamSettings: streamSettings(p) }),
    sniffing: { enabled: true, destOverride: ['http', 'tls', 'quic'] },
  };
}

function outbounds(rows: OutboundRow[]): XrayOutbound[] {
  // `direct` first: Xray's default route is the first outbound; operator routes are opt-in by rule.
  const out: XrayOutbound[] = [{ tag: 'direct', protocol: 'freedom', settings: {} }];
  for (const o of rows) {
    const stream = sortKeys(parse<Record<string, unknown>>(o.stream_settings)) as Record<string, unknown>;
    out.push({
      tag: o.tag,
      protocol: o.protocol,
      settings: sortKeys(parse(o.settings)) as Record<string, unknown>,
      ...(Object.keys(stream).length > 0 ? { streamSettings: stream } : {}),
    });
  }
  out.push({ tag: 'block', protocol: 'blackhole', settings: {} });
  return out;
}

function routingRules(text: string, enabledTags: Set<string>): XrayRule[] {
  const rules: XrayRule[] = [];
  for (const r of JSON.parse(text) as RoutingRule[]) {
    const rule: XrayRule = { type: 'field', outboundTag: r.outbound_tag };
    if (r.node_protocol_ids) {
      // A rule about disabled inbounds only would match nothing; without inboundTag it would match all.
      const tags = r.node_protocol_ids.map(protocolTag).filter((t) => enabledTags.has(t));
      if (tags.length === 0) continue;
      rule.inboundTag = tags;
    }
    if (r.domain) rule.domain = r.domain;
    if (r.ip) rule.ip = r.ip;
    if (r.port) rule.port = r.port;
    if (r.source) rule.source = r.source;
    if (r.network) rule.network = r.network;
    if (r.protocol) rule.protocol = r.protocol;
    rules.push(rule);
  }
  return rules;
}

function mtproto(p: ProtocolRow, host: string, clients: GrantedSubscription[]): MtProtoServiceConfig | null {
  // telemt refuses a config without users (§3.2).
  if (clients.length === 0) return null;
  const m = parse<StoredMtproto>(p.mtproto_settings);
  const users = clients.map((s) => ({ name: s.link_uuid, secret: mtprotoSecret(s.link_uuid) }));
  const configToml = toToml({
    general: {
      use_middle_proxy: m.use_middle_proxy,
      modes: { classic: false, secure: false, tls: true },
      links: { public_host: host, public_port: p.port },
    },
    server: {
      port: p.port,
      listeners: p.listen ? [{ ip: p.listen }] : undefined,
      api: { enabled: true, listen: '127.0.0.1:9091', whitelist: ['127.0.0.1/32'] },
    },
    censorship: { tls_domain: m.tls_domain, tls_domains: m.extra_tls_domains, mask: m.mask },
    access: { users: Object.fromEntries(users.map((u) => [u.name, u.secret])) },
  });
  return {
    nodeProtocolId: p.id,
    tag: protocolTag(p.id),
    port: p.port,
    listen: p.listen,
    publicHost: host,
    publicPort: p.port,
    tlsDomain: m.tls_domain,
    extraTlsDomains: m.extra_tls_domains,
    mask: m.mask,
    useMiddleProxy: m.use_middle_proxy,
    users,
    configToml,
  };
}

/** Secrets in the result are `Sealed`: see configText. */
export function renderNodeConfig(input: RenderInput, now: Date | string): RenderedConfig {
  const eligible = new Map<number, boolean>();
  const isIn = (s: GrantedSubscription) => {
    let ok = eligible.get(s.id);
    if (ok === undefined) eligible.set(s.id, (ok = isEligible(s, now)));
    return ok;
  };

  const served = new Map<number, GrantedSubscription>();
  const inbounds: XrayInbound[] = [];
  let mt: MtProtoServiceConfig | null = null;
  let hasXray = false;
  for (const p of input.protocols) {
    const clients = (input.grants.get(p.id) ?? []).filter(isIn);
    if (p.protocol === 'mtproto') {
      if (mt) continue;
      mt = mtproto(p, input.host, clients);
    } else {
      hasXray = true;
      const ib = inbound(p, clients);
      if (!ib) continue;
      inbounds.push(ib);
    }
    for (const s of clients) served.set(s.id, s);
  }

  const clientMap: Record<string, ClientRef> = {};
  for (const s of [...served.values()].sort((a, b) => a.id - b.id)) clientMap[s.link_uuid] = { userId: s.user_id, subscriptionId: s.id };

  const services: RenderedConfig['services'] = {};
  if (hasXray) {
    const tags = new Set(inbounds.map((i) => i.tag));
    // IPOnDemand: an IP rule resolves a domain destination first, so `localhost` or a name that
    // points at 10.0.0.1 meets the private-address block like the address itself.
    const rules = [...safetyRules(JSON.parse(input.allowedDestinations) as string[]), ...routingRules(input.routingRules, tags)];
    services.xray = { inbounds, outbounds: outbounds(input.outbounds), routing: { domainStrategy: 'IPOnDemand', rules } };
  }
  if (mt) services.mtproto = mt;
  return { clientMap, services };
}

/**
 * The config as JSON text, deterministic by construction: with secrets sealed (the text the hash
 * covers) or, given `reveal`, opened (the text the node is served). `containsSecrets` tells
 * whether the two can differ, so a config without secrets is serialised once.
 */
export function configText(config: RenderedConfig, reveal?: Reveal): string {
  revealing = reveal ?? null;
  sawSecret = false;
  try {
    return JSON.stringify(config);
  } finally {
    revealing = null;
  }
}

/** Whether the config serialised last held any secret. */
export const containsSecrets = (): boolean => sawSecret;

export const configHash = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The served document: `{"revision":N,…}` around the same text the hash covers. */
export const withRevision = (revision: number, text: string): string => `{"revision":${revision},${text.slice(1)}`;
