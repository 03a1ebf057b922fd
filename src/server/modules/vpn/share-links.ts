/**
 * Share links clients import (specs/core-node.md §5.1, §3.3): vless:// and trojan:// with the
 * Xray-core #716 query keys, vmess:// as base64 of the v2rayN (ver 2) JSON, ss:// per SIP002, and
 * tg://proxy Fake-TLS links. Pure functions of one node protocol and one subscription's credentials.
 */
import { createHash } from 'node:crypto';

type Json = Record<string, unknown>;

export interface LinkProtocol {
  /** vless | vmess | trojan | shadowsocks | mtproto */
  protocol: string;
  /** Public DNS name or address of the Core node. */
  host: string;
  port: number;
  remark: string;
  transport: string | null;
  transportSettings: Json;
  /** none | tls | reality */
  security: string;
  tlsSettings: Json;
  realitySettings: Json;
  flow: string | null;
  ssMethod: string | null;
  /** SS-2022 server PSK (multi-user inbounds), already unsealed. */
  ssServerKey: string | null;
  mtprotoSettings: Json;
}

export interface LinkCredentials {
  linkUuid: string;
  /** The subscription's own Shadowsocks secret, already unsealed. */
  ssPassword: string;
}

const str = (settings: Json, ...keys: string[]): string | undefined => {
  for (const key of keys) {
    const value = settings[key];
    if (typeof value === 'string' && value !== '') return value;
    if (typeof value === 'number') return String(value);
  }
  return undefined;
};

const list = (settings: Json, ...keys: string[]): string[] => {
  for (const key of keys) {
    const value = settings[key];
    if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
    if (typeof value === 'string' && value !== '')
      return value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
  }
  return [];
};

/** `raw` is Xray's new name for `tcp`; links keep the name every client understands. */
const networkOf = (p: LinkProtocol): string => {
  const network = (p.transport ?? 'tcp').toLowerCase();
  return network === 'raw' ? 'tcp' : network;
};

const hostPort = (host: string, port: number): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`);

const fragment = (remark: string): string => `#${encodeURIComponent(remark)}`;

const query = (params: Array<[string, string | undefined]>): string =>
  params
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '')
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join('&');

interface StreamFields {
  network: string;
  security: string;
  path?: string;
  host?: string;
  headerType?: string;
  serviceName?: string;
  mode?: string;
  authority?: string;
  extra?: string;
  sni?: string;
  fp?: string;
  alpn?: string;
  pbk?: string;
  sid?: string;
  spx?: string;
}

/** Transport and security facts shared by every Xray link format. */
function streamFields(p: LinkProtocol): StreamFields {
  const network = networkOf(p);
  const t = p.transportSettings;
  const security = ['tls', 'reality'].includes(p.security) ? p.security : 'none';
  const out: StreamFields = { network, security };
  if (network === 'ws' || network === 'httpupgrade' || network === 'xhttp' || network === 'splithttp') {
    out.path = str(t, 'path') ?? '/';
    out.host = str(t, 'host', 'Host');
  }
  if (network === 'tcp' || network === 'kcp') out.headerType = str(t, 'headerType', 'header_type');
  if (network === 'tcp' && out.headerType === 'http') {
    out.path = str(t, 'path');
    out.host = str(t, 'host', 'Host');
  }
  if (network === 'grpc') {
    out.serviceName = str(t, 'serviceName', 'service_name') ?? '';
    out.authority = str(t, 'authority');
    out.mode = str(t, 'mode') ?? (t.multiMode === true ? 'multi' : 'gun');
  }
  if (network === 'xhttp' || network === 'splithttp') {
    out.mode = str(t, 'mode');
    const extra = t.extra;
    if (extra && typeof extra === 'object') out.extra = JSON.stringify(extra);
    else if (typeof extra === 'string' && extra !== '') out.extra = extra;
  }
  if (security === 'tls') {
    const tls = p.tlsSettings;
    out.sni = str(tls, 'serverName', 'server_name', 'sni');
    out.fp = str(tls, 'fingerprint', 'fp');
    const alpn = list(tls, 'alpn');
    if (alpn.length > 0) out.alpn = alpn.join(',');
  }
  if (security === 'reality') {
    const r = p.realitySettings;
    out.sni = str(r, 'serverName', 'server_name') ?? list(r, 'serverNames', 'server_names')[0];
    out.fp = str(r, 'fingerprint', 'fp') ?? 'chrome';
    out.pbk = str(r, 'publicKey', 'public_key', 'password');
    out.sid = str(r, 'shortId', 'short_id') ?? list(r, 'shortIds', 'short_ids').find((s) => s !== '');
    out.spx = str(r, 'spiderX', 'spider_x');
  }
  return out;
}

const streamQuery = (s: StreamFields): Array<[string, string | undefined]> => [
  ['sni', s.sni],
  ['fp', s.fp],
  ['alpn', s.alpn],
  ['pbk', s.pbk],
  ['sid', s.sid],
  ['spx', s.spx],
  ['path', s.path],
  ['host', s.host],
  ['headerType', s.headerType],
  ['serviceName', s.serviceName],
  ['mode', s.mode],
  ['authority', s.authority],
  ['extra', s.extra],
];

/** Vision only works over raw TCP with TLS or REALITY (remnawave's get-vless-flow rule). */
const flowOf = (p: LinkProtocol, s: StreamFields): string | undefined => (p.flow && s.network === 'tcp' && s.security !== 'none' ? p.flow : undefined);

function vlessLink(p: LinkProtocol, c: LinkCredentials): string {
  const s = streamFields(p);
  const q = query([['type', s.network], ['security', s.security], ['encryption', 'none'], ['flow', flowOf(p, s)], ...streamQuery(s)]);
  return `vless://${c.linkUuid}@${hostPort(p.host, p.port)}?${q}${fragment(p.remark)}`;
}

function trojanLink(p: LinkProtocol, c: LinkCredentials): string {
  const s = streamFields(p);
  const q = query([['type', s.network], ['security', s.security], ...streamQuery(s)]);
  return `trojan://${encodeURIComponent(c.linkUuid)}@${hostPort(p.host, p.port)}?${q}${fragment(p.remark)}`;
}

function vmessLink(p: LinkProtocol, c: LinkCredentials): string {
  const s = streamFields(p);
  // v2rayN carries the grpc service name in `path`, its mode and the tcp header type in `type`.
  const type = s.network === 'grpc' || s.network === 'xhttp' ? (s.mode ?? '') : (s.headerType ?? 'none');
  const payload: Record<string, string> = {
    v: '2',
    ps: p.remark,
    add: p.host,
    port: String(p.port),
    id: c.linkUuid,
    aid: '0',
    scy: 'auto',
    net: s.network,
    type,
    host: s.network === 'grpc' ? (s.authority ?? '') : (s.host ?? ''),
    path: s.network === 'grpc' ? (s.serviceName ?? '') : (s.path ?? ''),
    tls: s.security === 'none' ? '' : s.security,
    sni: s.sni ?? '',
    fp: s.fp ?? '',
    alpn: s.alpn ?? '',
  };
  if (s.security === 'reality') {
    payload.pbk = s.pbk ?? '';
    payload.sid = s.sid ?? '';
    payload.spx = s.spx ?? '';
  }
  return `vmess://${Buffer.from(JSON.stringify(payload), 'utf8').toString('base64')}`;
}

const SS2022_KEY_BYTES: Record<string, number> = {
  '2022-blake3-aes-128-gcm': 16,
  '2022-blake3-aes-256-gcm': 32,
  '2022-blake3-chacha20-poly1305': 32,
};

const isSs2022 = (method: string): boolean => method.startsWith('2022-');

/**
 * A subscription's SS-2022 user PSK: its stored secret when that already is base64 of the cipher's
 * key length, else a key derived from it (SHA-256, truncated). The config renderer must use the same
 * function so the link and the inbound agree.
 */
export function ss2022UserKey(secret: string, method: string): string {
  const length = SS2022_KEY_BYTES[method] ?? 32;
  const decoded = Buffer.from(secret, 'base64');
  if (decoded.length === length && decoded.toString('base64') === secret) return secret;
  return createHash('sha256').update(secret, 'utf8').digest().subarray(0, length).toString('base64');
}

function shadowsocksLink(p: LinkProtocol, c: LinkCredentials): string {
  const method = p.ssMethod ?? 'chacha20-ietf-poly1305';
  let userinfo: string;
  if (isSs2022(method)) {
    // SIP002: 2022 ciphers are percent-encoded, never base64; multi-user is serverPSK:userPSK.
    const userKey = ss2022UserKey(c.ssPassword, method);
    const password = p.ssServerKey ? `${p.ssServerKey}:${userKey}` : userKey;
    userinfo = `${encodeURIComponent(method)}:${encodeURIComponent(password)}`;
  } else {
    userinfo = Buffer.from(`${method}:${c.ssPassword}`, 'utf8').toString('base64url');
  }
  return `ss://${userinfo}@${hostPort(p.host, p.port)}${fragment(p.remark)}`;
}

/** telemt's per-user secret: the link UUID without hyphens (32 hex chars), as credentials.ts renders it. */
const mtprotoSecret = (linkUuid: string): string => linkUuid.replaceAll('-', '').toLowerCase();

/** One Fake-TLS (`ee`) link per TLS domain; `dd` (secure mode) when the protocol names none. */
function mtprotoLinks(p: LinkProtocol, c: LinkCredentials): string[] {
  const m = p.mtprotoSettings;
  const domains = [str(m, 'tlsDomain', 'tls_domain'), ...list(m, 'extraTlsDomains', 'extra_tls_domains', 'tlsDomains', 'tls_domains')].filter(
    (d, i, all): d is string => d !== undefined && all.indexOf(d) === i,
  );
  const secret = mtprotoSecret(c.linkUuid);
  const server = encodeURIComponent(p.host.replace(/^\[(.*)\]$/, '$1'));
  const link = (s: string) => `tg://proxy?server=${server}&port=${p.port}&secret=${s}`;
  if (domains.length === 0) return [link(`dd${secret}`)];
  return domains.map((d) => link(`ee${secret}${Buffer.from(d, 'utf8').toString('hex')}`));
}

/** Every link of one node protocol for one subscription (empty for an unknown protocol). */
export function shareLinks(p: LinkProtocol, c: LinkCredentials): string[] {
  switch (p.protocol) {
    case 'vless':
      return [vlessLink(p, c)];
    case 'vmess':
      return [vmessLink(p, c)];
    case 'trojan':
      return [trojanLink(p, c)];
    case 'shadowsocks':
      return [shadowsocksLink(p, c)];
    case 'mtproto':
      return mtprotoLinks(p, c);
    default:
      return [];
  }
}

/** The default subscription body: links one per line, then standard base64 (what v2rayN et al. import). */
export const subscriptionBody = (links: string[]): string => Buffer.from(links.join('\n'), 'utf8').toString('base64');
