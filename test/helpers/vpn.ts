/**
 * VPN test data inserted directly with Kysely (users, subscriptions, Core nodes with a live auth key,
 * node protocols, grants, outbounds), so traffic tests stand on their own. Rows have the shapes the
 * admin API writes: sealed Shadowsocks secrets, hashed auth keys, JSON settings as text.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/server/db/schema.ts';
import { uuidv7 } from '../../src/server/lib/ids.ts';
import { type SecretBox, randomToken, tokenHash } from '../../src/server/lib/secrets.ts';
import { nowIso } from '../../src/server/lib/time.ts';

export interface VpnFixtures {
  db: Kysely<Database>;
  secrets: SecretBox;
}

const suffix = () => randomBytes(4).toString('hex');

export async function createVpnUser(f: VpnFixtures, overrides: Partial<Database['vpn_users']> = {}) {
  const now = nowIso();
  const row = await f.db
    .insertInto('vpn_users')
    .values({ username: `user-${suffix()}`, email: null, telegram_id: null, status: 'active', inserted_at: now, updated_at: now, ...overrides } as never)
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...row, id: Number(row.id) };
}

export interface SubscriptionOverrides {
  status?: string;
  traffic_limit_bytes?: number;
  used_up_bytes?: number;
  used_down_bytes?: number;
  expires_at?: string | null;
  revoked_at?: string | null;
  link_uuid?: string;
  /** Plain Shadowsocks secret; sealed before it is stored. */
  ss_password?: string;
}

export async function createSubscription(f: VpnFixtures, userId: number, overrides: SubscriptionOverrides = {}) {
  const now = nowIso();
  const { ss_password, ...rest } = overrides;
  const ssPassword = ss_password ?? randomBytes(16).toString('base64');
  const row = await f.db
    .insertInto('vpn_subscriptions')
    .values({
      user_id: userId,
      link_uuid: randomUUID(),
      status: 'active',
      traffic_limit_bytes: 0,
      used_up_bytes: 0,
      used_down_bytes: 0,
      lifetime_used_bytes: 0,
      reset_strategy: 'no_reset',
      last_reset_at: null,
      expires_at: null,
      revoked_at: null,
      online: 0,
      online_at: null,
      last_node_id: null,
      ss_password_enc: f.secrets.seal(ssPassword),
      inserted_at: now,
      updated_at: now,
      ...rest,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...row, id: Number(row.id), ssPassword };
}

export interface CoreNodeFixture {
  nodeId: string;
  coreId: number;
  name: string;
  host: string;
  authKey: string;
}

export async function createCoreNode(f: VpnFixtures, overrides: { name?: string; host?: string; status?: string } = {}): Promise<CoreNodeFixture> {
  const now = nowIso();
  const nodeId = uuidv7();
  const name = overrides.name ?? `core-${suffix()}`;
  const host = overrides.host ?? `${name}.vpn.example.com`;
  const authKey = randomToken(32);
  await f.db
    .insertInto('nodes')
    .values({
      id: nodeId,
      kind: 'core',
      name,
      cluster_id: null,
      status: overrides.status ?? 'online',
      last_seen_at: now,
      version: null,
      labels: '{}',
      inserted_at: now,
      updated_at: now,
    })
    .execute();
  const max = await f.db
    .selectFrom('core_nodes')
    .select((eb) => eb.fn.max('core_id').as('max'))
    .executeTakeFirst();
  const coreId = Number(max?.max ?? 0) + 1;
  await f.db
    .insertInto('core_nodes')
    .values({
      node_id: nodeId,
      core_id: coreId,
      code: `code-${suffix()}`,
      registration_secret_hash: null,
      auth_key_hash: tokenHash(authKey),
      host,
      ip: null,
      region: null,
      sync_status: 'synced',
      revision: 1,
      applied_revision: 1,
      config_hash: null,
      last_error: null,
    } as never)
    .execute();
  return { nodeId, coreId, name, host, authKey };
}

export interface ProtocolOverrides {
  protocol?: string;
  port?: number;
  transport?: string | null;
  transport_settings?: Record<string, unknown>;
  security?: string;
  tls_settings?: Record<string, unknown>;
  reality_settings?: Record<string, unknown>;
  flow?: string | null;
  ss_method?: string | null;
  /** Plain SS-2022 server PSK; sealed before it is stored. */
  ss_server_key?: string | null;
  mtproto_settings?: Record<string, unknown>;
  remark?: string | null;
  enabled?: boolean;
}

let nextPort = 20000;

export async function createNodeProtocol(f: VpnFixtures, nodeId: string, o: ProtocolOverrides = {}) {
  const now = nowIso();
  const protocol = o.protocol ?? 'vless';
  const row = await f.db
    .insertInto('node_protocols')
    .values({
      node_id: nodeId,
      protocol,
      port: o.port ?? nextPort++,
      listen: null,
      transport: o.transport === undefined ? (protocol === 'mtproto' ? null : 'tcp') : o.transport,
      transport_settings: JSON.stringify(o.transport_settings ?? {}),
      security: o.security ?? 'none',
      tls_settings: JSON.stringify(o.tls_settings ?? {}),
      reality_settings: JSON.stringify(o.reality_settings ?? {}),
      flow: o.flow ?? null,
      ss_method: o.ss_method ?? (protocol === 'shadowsocks' ? 'aes-256-gcm' : null),
      ss_server_key_enc: o.ss_server_key ? f.secrets.seal(o.ss_server_key) : null,
      mtproto_settings: JSON.stringify(o.mtproto_settings ?? {}),
      remark: o.remark ?? null,
      enabled: o.enabled === false ? 0 : 1,
      inserted_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...row, id: Number(row.id) };
}

export async function grant(f: VpnFixtures, subscriptionId: number, nodeProtocolId: number): Promise<void> {
  await f.db.insertInto('subscription_protocols').values({ subscription_id: subscriptionId, node_protocol_id: nodeProtocolId }).execute();
}

export async function createOutbound(f: VpnFixtures, nodeId: string, tag: string, protocol = 'freedom') {
  const now = nowIso();
  const row = await f.db
    .insertInto('node_outbounds')
    .values({
      node_id: nodeId,
      tag,
      protocol,
      settings: '{}',
      stream_settings: '{}',
      traffic_bytes_up: 0,
      traffic_bytes_down: 0,
      inserted_at: now,
      updated_at: now,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...row, id: Number(row.id) };
}

/** A fresh subscription row (counters, status, presence) as numbers. */
export async function readSubscription(f: VpnFixtures, id: number) {
  const row = await f.db.selectFrom('vpn_subscriptions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  return {
    ...row,
    used_up_bytes: Number(row.used_up_bytes),
    used_down_bytes: Number(row.used_down_bytes),
    lifetime_used_bytes: Number(row.lifetime_used_bytes),
    traffic_limit_bytes: Number(row.traffic_limit_bytes),
    online: Number(row.online),
  };
}

export type DecodedLink =
  | { scheme: 'vless' | 'trojan'; credential: string; host: string; port: number; params: Record<string, string>; remark: string }
  | { scheme: 'vmess'; json: Record<string, unknown> }
  | { scheme: 'ss'; method: string; password: string; encoding: 'base64url' | 'percent'; host: string; port: number; remark: string }
  | { scheme: 'tg'; server: string; port: number; secret: string };

/** Parses a share link back into its parts the way clients do (WHATWG URL, base64 JSON, SIP002). */
export function decodeShareLink(link: string): DecodedLink {
  const scheme = link.slice(0, link.indexOf('://'));
  if (scheme === 'vmess') return { scheme, json: JSON.parse(Buffer.from(link.slice('vmess://'.length), 'base64').toString('utf8')) };
  const url = new URL(link);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const remark = decodeURIComponent(url.hash.slice(1));
  if (scheme === 'vless' || scheme === 'trojan') {
    return { scheme, credential: decodeURIComponent(url.username), host, port: Number(url.port), params: Object.fromEntries(url.searchParams), remark };
  }
  if (scheme === 'ss') {
    if (url.password !== '')
      return {
        scheme,
        method: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
        encoding: 'percent',
        host,
        port: Number(url.port),
        remark,
      };
    const plain = Buffer.from(url.username, 'base64url').toString('utf8');
    const colon = plain.indexOf(':');
    return { scheme, method: plain.slice(0, colon), password: plain.slice(colon + 1), encoding: 'base64url', host, port: Number(url.port), remark };
  }
  if (scheme === 'tg')
    return { scheme, server: url.searchParams.get('server')!, port: Number(url.searchParams.get('port')), secret: url.searchParams.get('secret')! };
  throw new Error(`unknown share link scheme in ${link}`);
}
