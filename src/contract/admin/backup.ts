/**
 * Export and import (manager spec §5.6, extended): the document `GET /api/v1/export` answers and
 * `POST /api/v1/import` restores.
 *
 * `data.users`, `data.nodes`, `data.settings` and `data.config_templates` are the spec's keys, as it
 * shapes them (`nodes` is every inventory node in the spec's node shape, for reading; `inventory`
 * is what an import restores). Every other key of `data` is Nodeplane's extension: the rows an
 * operator needs to move a Nodeplane to a new machine, as they are stored (times ISO-8601 UTC text,
 * JSON columns as JSON text, booleans 0/1), with every secret, hash and token left out.
 *
 * `secrets` exists only inside an encrypted export: the secrets of those rows, in the clear (sealed
 * values are opened, so they can be sealed again under the new machine's data key).
 *
 * The encrypted export (`POST /api/v1/export`) is `{version: 1, encrypted}`:
 * - `kdf` `"scrypt"` with `N`, `r`, `p` and a 16-byte random `salt` derives a 32-byte key from the
 *   passphrase (UTF-8);
 * - `cipher` `"aes-256-gcm"` with a 12-byte random `nonce` encrypts the UTF-8 JSON text of the full
 *   document (secrets included); `ciphertext` and the 16-byte `tag` are separate;
 * - binary fields are standard base64.
 */
import { type Static, type TSchema, Type } from 'typebox';
import { Nullable, Timestamp } from '../types.ts';

// NUL in any string is refused for every body by the validator (http/validation.ts), this one included.
const Text = (maxLength: number, minLength = 0) => Type.String({ minLength, maxLength });
const Id = Type.String({ format: 'uuid' });
const Int = (minimum = 0) => Type.Integer({ minimum, maximum: Number.MAX_SAFE_INTEGER });
const Bit = Type.Integer({ minimum: 0, maximum: 1 });
const Time = Type.String({ format: 'date-time', maxLength: 40 });
const NullableTime = Nullable(Time);
/** A JSON column, as its JSON text. */
const JsonText = Text(1024 * 1024, 2);
const Row = <P extends Record<string, TSchema>>(properties: P) => Type.Object(properties, { additionalProperties: false });
const Rows = <T extends TSchema>(row: T) => Type.Array(row, { maxItems: 1_000_000 });

/** The spec's UserInfo. */
export const BackupUser = Row({
  id: Id,
  username: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' }),
  display_name: Text(128, 1),
  email: Nullable(Text(254)),
  role: Type.Union([Type.Literal('viewer'), Type.Literal('operator'), Type.Literal('admin'), Type.Literal('super_admin')]),
  is_temporary: Type.Boolean(),
  expires_at: NullableTime,
  allowed_node_ids: Nullable(Type.Array(Id, { maxItems: 100_000 })),
  is_active: Type.Boolean(),
  last_login_at: NullableTime,
});
export type BackupUser = Static<typeof BackupUser>;

/** The spec's export node shape, for readers of the document; import restores `inventory`. */
export const SpecNode = Type.Object({
  id: Text(64),
  name: Text(255),
  description: Nullable(Text(512)),
  device_type: Text(64),
  status: Text(64),
  software_version: Nullable(Text(255)),
  metadata: Type.Record(Type.String(), Type.Unknown()),
});

export const BackupCluster = Row({
  id: Id,
  name: Text(63, 1),
  ipv4_range: Type.String({ maxLength: 18, pattern: '^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}/\\d{1,2}$' }),
  node_limit: Nullable(Int()),
  inserted_at: Time,
  updated_at: Time,
});

/** Without its `key` (the blob is the secret): a plain import skips enrollment keys. */
export const BackupEnrollmentKey = Row({
  id: Id,
  cluster_id: Id,
  name: Nullable(Text(255)),
  uses_remaining: Nullable(Int()),
  expired_at: NullableTime,
  last_used_at: NullableTime,
  inserted_at: Time,
  updated_at: Time,
});

export const BackupInventoryNode = Row({
  id: Id,
  kind: Type.Union(['edge-agent', 'core', 'mesh', 'manager-edge', 'manager-relay', 'pasarguard'].map((k) => Type.Literal(k))),
  name: Text(255, 1),
  cluster_id: Nullable(Id),
  status: Text(32, 1),
  last_seen_at: NullableTime,
  version: Nullable(Text(255)),
  labels: JsonText,
  inserted_at: Time,
  updated_at: Time,
});

const Port = Type.Integer({ minimum: 0, maximum: 65535 });

export const BackupEdgeNode = Row({
  node_id: Id,
  id_type: Text(32, 1),
  http_port: Port,
  ssh_port: Port,
  host_metrics_port: Port,
  wireguard_metrics_port: Port,
  http_proxy_port: Port,
  socks5_proxy_port: Port,
  self_update_enabled: Bit,
});

export const BackupAddressAllocation = Row({ node_id: Id, cluster_id: Id, address: Int() });

export const BackupAlias = Row({ id: Id, name: Text(255, 1), node_id: Id, cluster_id: Id, inserted_at: Time, updated_at: Time });

export const BackupSshUsername = Row({ id: Id, node_id: Id, username: Text(255, 1), inserted_at: Time, updated_at: Time });

export const BackupSshPublicKey = Row({
  id: Id,
  ssh_username_id: Id,
  key_name: Text(255, 1),
  public_key: Text(16 * 1024, 1),
  key_data: Text(16 * 1024, 1),
  inserted_at: Time,
  updated_at: Time,
});

export const BackupVpnUser = Row({
  id: Int(1),
  username: Text(255, 1),
  email: Nullable(Text(254)),
  telegram_id: Nullable(Text(64)),
  status: Text(32, 1),
  inserted_at: Time,
  updated_at: Time,
});

export const BackupVpnSubscription = Row({
  id: Int(1),
  user_id: Int(1),
  link_uuid: Id,
  status: Text(32, 1),
  traffic_limit_bytes: Int(),
  used_up_bytes: Int(),
  used_down_bytes: Int(),
  lifetime_used_bytes: Int(),
  reset_strategy: Text(32, 1),
  last_reset_at: NullableTime,
  expires_at: NullableTime,
  revoked_at: NullableTime,
  online: Bit,
  online_at: NullableTime,
  last_node_id: Nullable(Text(64)),
  inserted_at: Time,
  updated_at: Time,
});

/** Without its registration secret and auth key hashes: a plain import leaves the node to re-register. */
export const BackupCoreNode = Row({
  node_id: Id,
  core_id: Int(1),
  code: Text(64, 1),
  host: Text(255, 1),
  ip: Nullable(Text(64)),
  region: Nullable(Text(255)),
  sync_status: Text(32, 1),
  revision: Int(),
  applied_revision: Nullable(Int()),
  config_hash: Nullable(Text(128)),
  last_error: Nullable(JsonText),
  routing_rules: JsonText,
  allowed_destinations: JsonText,
});

/** Settings JSON without its sealed keys (`key_enc`, `private_key_enc`), and without the SS server key. */
export const BackupNodeProtocol = Row({
  id: Int(1),
  node_id: Id,
  protocol: Text(32, 1),
  port: Port,
  listen: Nullable(Text(255)),
  transport: Nullable(Text(32)),
  transport_settings: JsonText,
  security: Text(32, 1),
  tls_settings: JsonText,
  reality_settings: JsonText,
  flow: Nullable(Text(64)),
  ss_method: Nullable(Text(64)),
  mtproto_settings: JsonText,
  remark: Nullable(Text(255)),
  enabled: Bit,
  inserted_at: Time,
  updated_at: Time,
});

export const BackupSubscriptionProtocol = Row({ subscription_id: Int(1), node_protocol_id: Int(1) });

export const BackupNodeOutbound = Row({
  id: Int(1),
  node_id: Id,
  tag: Text(255, 1),
  protocol: Text(32, 1),
  settings: JsonText,
  stream_settings: JsonText,
  traffic_bytes_up: Int(),
  traffic_bytes_down: Int(),
  inserted_at: Time,
  updated_at: Time,
});

/** Without its secret and headers: a plain import gives it a new random secret nobody knows. */
export const BackupWebhook = Row({
  id: Id,
  url: Type.String({ minLength: 1, maxLength: 2048, pattern: '^https?://.+' }),
  subscribed_events: Type.Array(Text(256, 1), { minItems: 1, maxItems: 20 }),
  inserted_at: Time,
  updated_at: Time,
});

const Secret = Text(64 * 1024, 1);

/** Only inside an encrypted export. */
export const BackupSecrets = Type.Object(
  {
    users: Rows(Row({ id: Id, password_hash: Secret })),
    enrollment_keys: Rows(Row({ id: Id, key: Secret })),
    edge_nodes: Rows(Row({ node_id: Id, api_token_hash: Secret, api_token: Secret, proxy_password: Secret })),
    ssh_usernames: Rows(Row({ id: Id, password_hash: Nullable(Secret) })),
    core_nodes: Rows(Row({ node_id: Id, registration_secret_hash: Nullable(Secret), auth_key_hash: Nullable(Secret) })),
    vpn_subscriptions: Rows(Row({ id: Int(1), ss_password: Secret })),
    node_protocols: Rows(Row({ id: Int(1), ss_server_key: Nullable(Secret), tls_key: Nullable(Secret), reality_private_key: Nullable(Secret) })),
    webhooks: Rows(Row({ id: Id, secret: Secret, headers: Type.Record(Type.String({ maxLength: 256 }), Text(4096)) })),
  },
  { additionalProperties: false },
);
export type BackupSecrets = Static<typeof BackupSecrets>;

export const BackupData = Type.Object(
  {
    users: Rows(BackupUser),
    nodes: Rows(SpecNode),
    /** `[key, value]`, values as text. */
    // A pair as a two-item array: OpenAPI 3.0 has no tuples.
    settings: Rows(Type.Unsafe<[string, string]>(Type.Array(Text(64 * 1024), { minItems: 2, maxItems: 2 }))),
    config_templates: Type.Array(Type.Unknown(), { maxItems: 0 }),
    events: Type.Optional(Rows(Type.Unknown())),
    audit_log: Type.Optional(Rows(Type.Unknown())),
    clusters: Rows(BackupCluster),
    enrollment_keys: Rows(BackupEnrollmentKey),
    inventory: Rows(BackupInventoryNode),
    edge_nodes: Rows(BackupEdgeNode),
    address_allocations: Rows(BackupAddressAllocation),
    aliases: Rows(BackupAlias),
    ssh_usernames: Rows(BackupSshUsername),
    ssh_public_keys: Rows(BackupSshPublicKey),
    vpn_users: Rows(BackupVpnUser),
    vpn_subscriptions: Rows(BackupVpnSubscription),
    core_nodes: Rows(BackupCoreNode),
    node_protocols: Rows(BackupNodeProtocol),
    subscription_protocols: Rows(BackupSubscriptionProtocol),
    node_outbounds: Rows(BackupNodeOutbound),
    webhooks: Rows(BackupWebhook),
    secrets: Type.Optional(BackupSecrets),
  },
  { additionalProperties: false },
);
export type BackupData = Static<typeof BackupData>;

export const ExportDocument = Type.Object(
  {
    version: Type.Literal(1),
    exported_at: Timestamp,
    /** The exporting operator's user id, or `master-key` for the boot key. */
    exported_by: Text(64, 1),
    data: BackupData,
  },
  { additionalProperties: false },
);
export type ExportDocument = Static<typeof ExportDocument>;

const Base64 = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: '^[A-Za-z0-9+/]+={0,2}$' });

export const EncryptedPayload = Type.Object(
  {
    kdf: Type.Literal('scrypt'),
    N: Type.Integer({ minimum: 1024, maximum: 1_048_576 }),
    r: Type.Integer({ minimum: 1, maximum: 32 }),
    p: Type.Integer({ minimum: 1, maximum: 16 }),
    salt: Base64(64),
    cipher: Type.Literal('aes-256-gcm'),
    nonce: Base64(32),
    tag: Base64(32),
    ciphertext: Base64(1024 * 1024 * 1024),
  },
  { additionalProperties: false },
);
export type EncryptedPayload = Static<typeof EncryptedPayload>;

export const EncryptedExport = Type.Object({ version: Type.Literal(1), encrypted: EncryptedPayload }, { additionalProperties: false });
export type EncryptedExport = Static<typeof EncryptedExport>;

export const ExportQuery = Type.Object(
  {
    include_events: Type.Optional(Type.Boolean({ default: false })),
    /** Events of the last this many days (default 7). */
    events_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 36_500, default: 7 })),
    include_audit: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);
export type ExportQuery = Static<typeof ExportQuery>;

const Passphrase = Type.String({ minLength: 12, maxLength: 1024 });

export const EncryptedExportRequest = Type.Object(
  {
    passphrase: Passphrase,
    include_events: Type.Optional(Type.Boolean()),
    events_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 36_500 })),
    include_audit: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type EncryptedExportRequest = Static<typeof EncryptedExportRequest>;

export const ImportRequest = Type.Object(
  {
    document: Type.Union([ExportDocument, EncryptedExport]),
    /** Required for an encrypted document, refused for a plain one. */
    passphrase: Type.Optional(Passphrase),
    dry_run: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);
export type ImportRequest = Static<typeof ImportRequest>;

const Counts = Type.Record(Type.String(), Type.Integer());

export const ImportReport = Type.Object({
  dry_run: Type.Boolean(),
  /** Whether the document carried secrets (an encrypted export). */
  with_secrets: Type.Boolean(),
  created: Counts,
  updated: Counts,
  unchanged: Counts,
  /** Rows left out: enrollment keys of a plain document, users whose username the target already has. */
  skipped: Counts,
});
export type ImportReport = Static<typeof ImportReport>;
