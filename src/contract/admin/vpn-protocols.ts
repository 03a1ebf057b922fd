/**
 * Admin API: node protocols (`/api/v1/vpn/node_protocols`), the inbounds of a Core node
 * (specs/core-node.md §1.3, §2.2–§2.4, §3). Private keys are write-only: they are sealed at rest,
 * rendered into the node's config, and never shown again by this API.
 */
import { Type, type Static } from 'typebox';
import { ListQuery, Nullable, Timestamp, Uuid } from '../types.ts';
import { HostName, IpAddress } from '../core-node/node.ts';
import { StringEnum, VpnProtocol } from '../core-node/config.ts';

export const Port = Type.Integer({ minimum: 1, maximum: 65535 });
export const Transport = StringEnum(['tcp', 'ws', 'grpc', 'xhttp', 'httpupgrade']);
export const Security = Type.Enum(['none', 'tls', 'reality']);
export const Flow = StringEnum(['xtls-rprx-vision']);

/**
 * Shadowsocks ciphers with per-user passwords. `2022-blake3-chacha20-poly1305` is left out: it
 * cannot tell users apart (§2.4).
 */
export const SS_METHODS = [
  'aes-128-gcm',
  'aes-256-gcm',
  'chacha20-ietf-poly1305',
  'xchacha20-ietf-poly1305',
  '2022-blake3-aes-128-gcm',
  '2022-blake3-aes-256-gcm',
] as const;
export const SsMethod = StringEnum(SS_METHODS);
export type SsMethod = (typeof SS_METHODS)[number];

const Path = Type.String({ minLength: 1, maxLength: 200, pattern: '^/[\\x21-\\x7e]*$' });
const FilePath = Type.String({ minLength: 1, maxLength: 500, pattern: '^/[^\\x00-\\x1f]*$' });
const Fingerprint = Type.Enum(['chrome', 'firefox', 'safari', 'ios', 'android', 'edge', '360', 'qq', 'random', 'randomized']);

const Pem = Type.String({ minLength: 1, maxLength: 20_000, pattern: '^-----BEGIN [A-Z0-9 ]+-----' });

export const TransportSettings = Type.Object(
  {
    path: Type.Optional(Path),
    host: Type.Optional(HostName),
    /** grpc */
    service_name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.\\-/]+$' })),
    /** xhttp */
    mode: Type.Optional(Type.Enum(['auto', 'packet-up', 'stream-up', 'stream-one'])),
  },
  { additionalProperties: false },
);

export const TlsSettingsInput = Type.Object(
  {
    server_name: Type.Optional(HostName),
    alpn: Type.Optional(Type.Array(Type.Enum(['h2', 'http/1.1', 'h3']), { maxItems: 3, uniqueItems: true })),
    /** uTLS fingerprint clients should use (share links only). */
    fingerprint: Type.Optional(Fingerprint),
    /** Either files on the node… */
    certificate_file: Type.Optional(FilePath),
    key_file: Type.Optional(FilePath),
    /** …or inline PEM (the key is write-only). */
    certificate: Type.Optional(Pem),
    key: Type.Optional(Pem),
  },
  { additionalProperties: false },
);

export const TlsSettingsView = Type.Object({
  server_name: Type.Optional(Type.String()),
  alpn: Type.Optional(Type.Array(Type.String())),
  fingerprint: Type.Optional(Type.String()),
  certificate_file: Type.Optional(Type.String()),
  key_file: Type.Optional(Type.String()),
  certificate: Type.Optional(Type.String()),
  has_inline_key: Type.Boolean(),
});

const ShortId = Type.String({ maxLength: 16, pattern: '^([0-9a-f]{2})*$' });

export const RealitySettingsInput = Type.Object(
  {
    /** The site REALITY borrows, `host:port` (Xray's `target`, formerly `dest`). */
    target: Type.String({ minLength: 3, maxLength: 260, pattern: '^[A-Za-z0-9.\\-\\[\\]:]+:[0-9]{1,5}$' }),
    server_names: Type.Array(HostName, { minItems: 1, maxItems: 32, uniqueItems: true }),
    /** X25519 private key, base64url (as `xray x25519` prints it). Generated when absent. */
    private_key: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{43}=?$' })),
    short_ids: Type.Optional(Type.Array(ShortId, { maxItems: 32, uniqueItems: true })),
    /** Client side, for share links. */
    fingerprint: Type.Optional(Fingerprint),
    spider_x: Type.Optional(Path),
    xver: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 })),
  },
  { additionalProperties: false },
);

export const RealitySettingsView = Type.Object({
  target: Type.String(),
  server_names: Type.Array(Type.String()),
  /** Derived from the private key: what clients need (`pbk`). */
  public_key: Type.String(),
  short_ids: Type.Array(Type.String()),
  fingerprint: Type.Optional(Type.String()),
  spider_x: Type.Optional(Type.String()),
  xver: Type.Optional(Type.Integer()),
});

export const MtprotoSettings = Type.Object(
  {
    /** Fake-TLS SNI domain; changing it breaks existing ee-links (§3.2). */
    tls_domain: HostName,
    extra_tls_domains: Type.Optional(Type.Array(HostName, { maxItems: 16, uniqueItems: true })),
    /** Proxy unrecognised clients to the real site. Default true. */
    mask: Type.Optional(Type.Boolean()),
    use_middle_proxy: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const NodeProtocol = Type.Object({
  id: Type.Integer(),
  node_id: Uuid,
  /** Xray inbound tag `np-<id>`: how stats and logs map back to this protocol. */
  tag: Type.String(),
  protocol: Type.String(),
  port: Type.Integer(),
  listen: Nullable(Type.String()),
  transport: Nullable(Type.String()),
  transport_settings: Type.Object({
    path: Type.Optional(Type.String()),
    host: Type.Optional(Type.String()),
    service_name: Type.Optional(Type.String()),
    mode: Type.Optional(Type.String()),
  }),
  security: Type.String(),
  tls_settings: Nullable(TlsSettingsView),
  reality_settings: Nullable(RealitySettingsView),
  flow: Nullable(Type.String()),
  ss_method: Nullable(Type.String()),
  mtproto_settings: Nullable(
    Type.Object({ tls_domain: Type.String(), extra_tls_domains: Type.Array(Type.String()), mask: Type.Boolean(), use_middle_proxy: Type.Boolean() }),
  ),
  remark: Nullable(Type.String()),
  enabled: Type.Boolean(),
  subscription_count: Type.Integer(),
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type NodeProtocol = Static<typeof NodeProtocol>;

const settingsFields = {
  port: Port,
  listen: Type.Optional(Nullable(IpAddress)),
  transport: Type.Optional(Nullable(Transport)),
  transport_settings: Type.Optional(TransportSettings),
  security: Type.Optional(Security),
  tls_settings: Type.Optional(Nullable(TlsSettingsInput)),
  reality_settings: Type.Optional(Nullable(RealitySettingsInput)),
  flow: Type.Optional(Nullable(Flow)),
  ss_method: Type.Optional(Nullable(SsMethod)),
  /** SS-2022 server PSK, standard base64 of the cipher's key length; generated when absent. */
  ss_server_key: Type.Optional(Nullable(Type.String({ maxLength: 100, pattern: '^[A-Za-z0-9+/]+={0,2}$' }))),
  mtproto_settings: Type.Optional(Nullable(MtprotoSettings)),
  remark: Type.Optional(Nullable(Type.String({ maxLength: 100 }))),
  enabled: Type.Optional(Type.Boolean()),
};

export const NodeProtocolCreateRequest = Type.Object({ node_id: Uuid, protocol: VpnProtocol, ...settingsFields }, { additionalProperties: false });
export type NodeProtocolCreateRequest = Static<typeof NodeProtocolCreateRequest>;

/**
 * Absent = unchanged. A settings object replaces the stored one, except that a secret it leaves
 * out (TLS key, REALITY private key) is kept. The protocol and node of an inbound never change.
 */
export const NodeProtocolUpdateRequest = Type.Object({ ...settingsFields, port: Type.Optional(Port) }, { additionalProperties: false });
export type NodeProtocolUpdateRequest = Static<typeof NodeProtocolUpdateRequest>;

const StringFilter = Type.String({ maxLength: 500 });

export const NodeProtocolListQuery = ListQuery({
  node_id: Type.Optional(Uuid),
  protocol: Type.Optional(StringFilter),
  transport: Type.Optional(StringFilter),
  security: Type.Optional(StringFilter),
  port: Type.Optional(Port),
  enabled: Type.Optional(Type.Boolean()),
  /** Protocols granted to this subscription. */
  subscription_id: Type.Optional(Type.Integer({ minimum: 1 })),
});
export type NodeProtocolListQuery = Static<typeof NodeProtocolListQuery>;
