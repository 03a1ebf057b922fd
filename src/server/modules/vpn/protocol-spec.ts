/**
 * Validation and storage shape of node protocols (specs/core-node.md §1.3, §2.2–§2.4, §3): which
 * transport, security and credential settings each protocol accepts, merged over the stored row
 * for updates. Private keys are sealed; a settings object that omits its key keeps the stored one.
 */
import type { Insertable, Selectable } from 'kysely';
import type { NodeProtocol, NodeProtocolCreateRequest, NodeProtocolUpdateRequest } from '../../../contract/admin/vpn-protocols.ts';
import type { ValidationDetails } from '../../errors.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import { toSecondPrecision } from '../../lib/time.ts';
import { isSs2022, newRealityPrivateKey, newSsServerKey, protocolTag, realityPublicKey, SS2022_KEY_BYTES, validSsServerKey } from './credentials.ts';
import { type StoredMtproto, type StoredReality, type StoredTls, type StoredTransport, visionAllowed } from './render.ts';
import type { NodeProtocolsTable } from '../../db/tables/vpn.ts';

export type ProtocolRow = Selectable<NodeProtocolsTable>;
type Input = Partial<NodeProtocolCreateRequest> & NodeProtocolUpdateRequest;
export type ProtocolFields = Omit<Insertable<NodeProtocolsTable>, 'id' | 'node_id' | 'inserted_at' | 'updated_at'>;

const TRANSPORT_KEYS: Record<string, string[]> = {
  tcp: [],
  ws: ['path', 'host'],
  httpupgrade: ['path', 'host'],
  xhttp: ['path', 'host', 'mode'],
  grpc: ['service_name'],
};
const REALITY_TRANSPORTS = ['tcp', 'grpc', 'xhttp'];

const parse = <T>(text: string | null | undefined): T | null => {
  if (!text || text === '{}') return null;
  return JSON.parse(text) as T;
};
const json = (value: object | null): string => (value ? JSON.stringify(value) : '{}');
const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/**
 * The row to store for `input` over `prev` (null on create), or the field errors. `protocol` of an
 * update comes from `prev`: it never changes.
 */
export function buildProtocol(input: Input, prev: ProtocolRow | null, secrets: SecretBox): { fields: ProtocolFields } | { errors: ValidationDetails } {
  const errors: Record<string, string[]> = {};
  const fail = (field: string, message: string) => (errors[field] ??= []).push(message);
  const protocol = prev?.protocol ?? input.protocol!;
  const isXray = protocol !== 'mtproto';
  const pick = <K extends keyof Input, V>(key: K, fromPrev: V): Input[K] | V => (input[key] !== undefined ? input[key] : fromPrev);

  let transport = pick('transport', prev ? prev.transport : isXray ? 'tcp' : null) as string | null;
  if (isXray && transport === null) transport = 'tcp';
  if (!isXray && transport !== null) fail('transport', 'must be empty for mtproto');
  if (protocol === 'shadowsocks' && transport !== 'tcp') fail('transport', 'shadowsocks runs over tcp only');

  // New transport, new settings: the old ones may not apply.
  const transportChanged = prev !== null && transport !== prev.transport;
  const transportSettings = (input.transport_settings ?? (transportChanged ? {} : (parse<StoredTransport>(prev?.transport_settings) ?? {}))) as StoredTransport;
  if (transport) {
    const allowed = TRANSPORT_KEYS[transport] ?? [];
    for (const key of Object.keys(transportSettings)) if (!allowed.includes(key)) fail(`transport_settings/${key}`, `is not used by transport ${transport}`);
    if (transport === 'grpc' && !transportSettings.service_name) fail('transport_settings/service_name', 'is required for grpc');
  } else if (Object.keys(transportSettings).length > 0) fail('transport_settings', 'must be empty without a transport');

  const security = (input.security ?? prev?.security ?? 'none') as string;
  if ((protocol === 'mtproto' || protocol === 'shadowsocks') && security !== 'none') fail('security', `must be none for ${protocol}`);
  if (security === 'reality') {
    if (protocol !== 'vless' && protocol !== 'trojan') fail('security', 'reality works with vless and trojan only');
    if (transport && !REALITY_TRANSPORTS.includes(transport)) fail('security', 'reality needs transport tcp, grpc or xhttp');
  }

  // TLS: files on the node, or inline PEM whose key is sealed.
  let tls: StoredTls | null = null;
  if (security === 'tls') {
    const prevTls = prev?.security === 'tls' ? parse<StoredTls>(prev.tls_settings) : null;
    const given = input.tls_settings !== undefined ? input.tls_settings : prevTls;
    if (!given) fail('tls_settings', 'is required when security is tls');
    else {
      const g = given as StoredTls & { key?: string };
      const keyEnc = g.key ? secrets.seal(g.key) : g.certificate && !g.certificate_file ? (g.key_enc ?? prevTls?.key_enc) : undefined;
      const files = Boolean(g.certificate_file && g.key_file) && !g.certificate && !g.key;
      const inline = Boolean(g.certificate && keyEnc) && !g.certificate_file && !g.key_file;
      if (!files && !inline) fail('tls_settings', 'needs certificate_file and key_file, or certificate and key');
      tls = defined({
        server_name: g.server_name,
        alpn: g.alpn,
        fingerprint: g.fingerprint,
        certificate_file: g.certificate_file,
        key_file: g.key_file,
        certificate: g.certificate,
        key_enc: keyEnc,
      });
    }
  } else if (input.tls_settings) fail('tls_settings', 'is only used with security tls');

  // REALITY: the private key is generated when none is given and none is stored.
  let reality: StoredReality | null = null;
  if (security === 'reality') {
    const prevReality = prev?.security === 'reality' ? parse<StoredReality>(prev.reality_settings) : null;
    const given = input.reality_settings !== undefined ? input.reality_settings : prevReality;
    if (!given) fail('reality_settings', 'is required when security is reality');
    else {
      const g = given as Partial<StoredReality> & { private_key?: string };
      let privateKeyEnc = g.private_key_enc ?? prevReality?.private_key_enc;
      let publicKey = g.public_key ?? prevReality?.public_key;
      if (g.private_key || !privateKeyEnc) {
        const privateKey = g.private_key ?? newRealityPrivateKey();
        const derived = realityPublicKey(privateKey);
        if (!derived) fail('reality_settings/private_key', 'is not an X25519 private key');
        privateKeyEnc = secrets.seal(privateKey.replace(/=+$/, ''));
        publicKey = derived ?? '';
      }
      reality = defined({
        target: g.target!,
        server_names: g.server_names!,
        private_key_enc: privateKeyEnc!,
        public_key: publicKey!,
        short_ids: g.short_ids ?? [''],
        fingerprint: g.fingerprint,
        spider_x: g.spider_x,
        xver: g.xver,
      });
    }
  } else if (input.reality_settings) fail('reality_settings', 'is only used with security reality');

  const flow = pick('flow', prev?.flow ?? null) as string | null;
  if (flow && protocol !== 'vless') fail('flow', 'only vless has a flow');
  else if (flow && !visionAllowed(transport, security)) fail('flow', 'xtls-rprx-vision needs transport tcp with security tls or reality');

  let ssMethod: string | null = null;
  let ssServerKeyEnc: string | null = null;
  if (protocol === 'shadowsocks') {
    ssMethod = pick('ss_method', prev?.ss_method ?? null) as string | null;
    if (!ssMethod) fail('ss_method', 'is required for shadowsocks');
    else if (isSs2022(ssMethod)) {
      const keepable = prev?.ss_server_key_enc && prev.ss_method && SS2022_KEY_BYTES[prev.ss_method] === SS2022_KEY_BYTES[ssMethod];
      if (input.ss_server_key) {
        if (!validSsServerKey(input.ss_server_key, ssMethod)) fail('ss_server_key', `must be base64 of ${SS2022_KEY_BYTES[ssMethod]} bytes for ${ssMethod}`);
        ssServerKeyEnc = secrets.seal(input.ss_server_key);
      } else ssServerKeyEnc = keepable && input.ss_server_key !== null ? prev!.ss_server_key_enc : secrets.seal(newSsServerKey(ssMethod));
    } else if (input.ss_server_key) fail('ss_server_key', 'is only used with 2022-blake3 methods');
  } else {
    if (input.ss_method) fail('ss_method', 'is only used with shadowsocks');
    if (input.ss_server_key) fail('ss_server_key', 'is only used with shadowsocks');
  }

  let mtproto: StoredMtproto | null = null;
  if (protocol === 'mtproto') {
    const given = input.mtproto_settings !== undefined ? input.mtproto_settings : parse<StoredMtproto>(prev?.mtproto_settings);
    if (!given) fail('mtproto_settings', 'is required for mtproto');
    else
      mtproto = {
        tls_domain: given.tls_domain,
        extra_tls_domains: given.extra_tls_domains ?? [],
        mask: given.mask ?? true,
        use_middle_proxy: given.use_middle_proxy ?? false,
      };
  } else if (input.mtproto_settings) fail('mtproto_settings', 'is only used with mtproto');

  if (Object.keys(errors).length > 0) return { errors };
  return {
    fields: {
      protocol,
      port: input.port ?? prev!.port,
      listen: pick('listen', prev?.listen ?? null) as string | null,
      transport,
      transport_settings: JSON.stringify(transportSettings),
      security,
      tls_settings: json(tls),
      reality_settings: json(reality),
      flow,
      ss_method: ssMethod,
      ss_server_key_enc: ssServerKeyEnc,
      mtproto_settings: json(mtproto),
      remark: pick('remark', prev?.remark ?? null) as string | null,
      enabled: (input.enabled ?? (prev ? prev.enabled === 1 : true)) ? 1 : 0,
    },
  };
}

export function renderProtocol(row: ProtocolRow & { subscription_count: number }): NodeProtocol {
  const tls = row.security === 'tls' ? parse<StoredTls>(row.tls_settings) : null;
  const reality = row.security === 'reality' ? parse<StoredReality>(row.reality_settings) : null;
  const mtproto = row.protocol === 'mtproto' ? parse<StoredMtproto>(row.mtproto_settings) : null;
  return {
    id: Number(row.id),
    node_id: row.node_id,
    tag: protocolTag(Number(row.id)),
    protocol: row.protocol,
    port: row.port,
    listen: row.listen,
    transport: row.transport,
    transport_settings: parse<StoredTransport>(row.transport_settings) ?? {},
    security: row.security,
    tls_settings: tls
      ? defined({
          server_name: tls.server_name,
          alpn: tls.alpn,
          fingerprint: tls.fingerprint,
          certificate_file: tls.certificate_file,
          key_file: tls.key_file,
          certificate: tls.certificate,
          has_inline_key: Boolean(tls.key_enc),
        })
      : null,
    reality_settings: reality
      ? defined({
          target: reality.target,
          server_names: reality.server_names,
          public_key: reality.public_key,
          short_ids: reality.short_ids,
          fingerprint: reality.fingerprint,
          spider_x: reality.spider_x,
          xver: reality.xver,
        })
      : null,
    flow: row.flow,
    ss_method: row.ss_method,
    mtproto_settings: mtproto,
    remark: row.remark,
    enabled: row.enabled === 1,
    subscription_count: Number(row.subscription_count),
    inserted_at: toSecondPrecision(row.inserted_at),
    updated_at: toSecondPrecision(row.updated_at),
  };
}
