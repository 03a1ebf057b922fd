/**
 * Export and import of a whole Nodeplane (manager spec §5.6, extended; document format in
 * contract/admin/backup.ts).
 *
 * Import restores into an empty target: every clusters/inventory/VPN/webhook row the target already
 * has must be in the document and equal to it (outside what changes on its own: status, last seen,
 * usage counters, revisions), else 409 and nothing is stored. Matching rows are `unchanged`, so the
 * same document imported twice changes nothing. Operators are the exception: the target's own
 * operators may stay, and a document user whose username the target already has is `skipped`.
 *
 * A plain document carries no secrets, so what it restores cannot prove itself yet: users get a
 * password no input matches (a super_admin resets it), edge nodes a token nobody knows (the agent
 * re-registers with an enrollment key and keeps its id and address), Core nodes no auth key (their
 * registration is reset), SSH usernames no password, webhooks a random secret, Shadowsocks and
 * REALITY keys new ones; enrollment keys are skipped. An encrypted document restores all of them.
 */
import type { Kysely, Transaction } from 'kysely';
import type {
  BackupData,
  BackupSecrets,
  BackupUser,
  EncryptedExportRequest,
  ExportDocument,
  ExportQuery,
  ImportReport,
  ImportRequest,
} from '../../../contract/admin/backup.ts';
import type { Database } from '../../db/schema.ts';
import { AppError, type ValidationDetails } from '../../errors.ts';
import type { Outbox } from '../../events/outbox.ts';
import { nowIso } from '../../lib/time.ts';
import { randomToken, type SecretBox, tokenHash } from '../../lib/secrets.ts';
import type { Principal } from '../../principal.ts';
import { newRealityPrivateKey, newSsSecret, newSsServerKey, realityPublicKey } from '../vpn/credentials.ts';
import { BACKUP_TABLES, type BackupTable, backupRepo, rowKey, type TableRows } from './backup.repo.ts';
import { decryptDocument, encryptDocument } from './passphrase-box.ts';

/** Settings (migration 0015, another module): how a backup reads and restores them once wired. */
export interface SettingsBackup {
  list(db: Kysely<Database>): Promise<Array<[string, string]>>;
  /** Writes (unless `dryRun`) and counts; runs inside the import's transaction. */
  restore(trx: Transaction<Database>, entries: Array<[string, string]>, dryRun: boolean): Promise<{ created: number; updated: number; unchanged: number }>;
}

/** The audit log (another module): its newest entries, for `include_audit`. */
export interface AuditBackup {
  recent(db: Kysely<Database>, limit: number): Promise<unknown[]>;
}

export interface BackupServiceDeps {
  db: Kysely<Database>;
  outbox: Outbox;
  secrets: SecretBox;
  validateDocument: (value: unknown) => { ok: true; value: ExportDocument } | { ok: false; details: Record<string, string[]> };
  settings?: SettingsBackup;
  audit?: AuditBackup;
}

type Row = Record<string, unknown>;
type Kind = Exclude<keyof BackupData, 'nodes' | 'settings' | 'config_templates' | 'events' | 'audit_log' | 'secrets'>;

/** Each kind of the document and the table it restores (webhooks also fill webhook_events). */
const KIND_TABLES: Record<Kind, BackupTable> = {
  users: 'users',
  clusters: 'clusters',
  enrollment_keys: 'enrollment_keys',
  inventory: 'nodes',
  edge_nodes: 'edge_nodes',
  address_allocations: 'address_allocations',
  aliases: 'aliases',
  ssh_usernames: 'ssh_usernames',
  ssh_public_keys: 'ssh_public_keys',
  vpn_users: 'vpn_users',
  vpn_subscriptions: 'vpn_subscriptions',
  core_nodes: 'core_nodes',
  node_protocols: 'node_protocols',
  subscription_protocols: 'subscription_protocols',
  node_outbounds: 'node_outbounds',
  webhooks: 'webhooks',
};
const KINDS = Object.keys(KIND_TABLES) as Kind[];

/** What moves on its own once nodes and users are live; two rows differing only here are the same. */
const VOLATILE: Partial<Record<Kind, string[]>> = {
  users: ['last_login_at'],
  enrollment_keys: ['uses_remaining', 'last_used_at'],
  inventory: ['status', 'last_seen_at', 'version'],
  // Re-registration rewrites every port and flag.
  edge_nodes: [
    'id_type',
    'http_port',
    'ssh_port',
    'host_metrics_port',
    'wireguard_metrics_port',
    'http_proxy_port',
    'socks5_proxy_port',
    'self_update_enabled',
  ],
  core_nodes: ['host', 'ip', 'region', 'sync_status', 'revision', 'applied_revision', 'config_hash', 'last_error'],
  vpn_subscriptions: ['status', 'used_up_bytes', 'used_down_bytes', 'lifetime_used_bytes', 'last_reset_at', 'online', 'online_at', 'last_node_id'],
  node_outbounds: ['traffic_bytes_up', 'traffic_bytes_down'],
};

const EXPORT_LIMIT = 10_000;
/** Matches no password: not an Argon2 PHC string, so verification fails without a hash to compare. */
export const UNUSABLE_PASSWORD = '!imported-without-password';

const omit = (row: Row, ...columns: string[]): Row => Object.fromEntries(Object.entries(row).filter(([column]) => !columns.includes(column)));
const parse = (text: unknown): Record<string, unknown> => JSON.parse(String(text)) as Record<string, unknown>;

export class BackupService {
  constructor(private readonly deps: BackupServiceDeps) {}

  async export(principal: Principal, options: ExportQuery): Promise<ExportDocument> {
    return this.build(principal, options, false);
  }

  async exportEncrypted(principal: Principal, input: EncryptedExportRequest) {
    const document = await this.build(principal, input, true);
    return { version: 1 as const, encrypted: await encryptDocument(JSON.stringify(document), input.passphrase) };
  }

  async import(input: ImportRequest): Promise<ImportReport> {
    const document = await this.open(input);
    const data = document.data;
    const withSecrets = data.secrets !== undefined;
    checkIntegrity(data);
    const dryRun = input.dry_run ?? false;
    return this.deps.outbox.run(async (trx) => {
      const current = this.plainData(await backupRepo.readAll(trx));
      const report: ImportReport = { dry_run: dryRun, with_secrets: withSecrets, created: {}, updated: {}, unchanged: {}, skipped: {} };
      const conflicts: Record<string, string[]> = {};
      const create: Partial<Record<Kind, Row[]>> = {};
      const takenUsernames = new Map(current.users.map((u) => [u.username, u.id]));
      for (const kind of KINDS) {
        const table = KIND_TABLES[kind];
        const existing = new Map((current[kind] as Row[]).map((row) => [rowKey(table, row), row]));
        const wanted = new Set<string>();
        const count = (bucket: Record<string, number>) => (bucket[kind] = (bucket[kind] ?? 0) + 1);
        for (const row of data[kind] as Row[]) {
          const key = rowKey(table, row);
          wanted.add(key);
          const have = existing.get(key);
          if (have) {
            if (same(kind, have, row)) count(report.unchanged);
            else (conflicts[kind] ??= []).push(`${key} differs from the row the target already has`);
          } else if (kind === 'users' && takenUsernames.has(String(row.username))) count(report.skipped);
          else if (kind === 'enrollment_keys' && !withSecrets) count(report.skipped);
          else {
            (create[kind] ??= []).push(row);
            count(report.created);
          }
        }
        if (kind === 'users') continue;
        const extra = [...existing.keys()].filter((key) => !wanted.has(key));
        if (extra.length > 0) (conflicts[kind] ??= []).push(`the target has ${extra.length} that the document does not`);
      }
      if (Object.keys(conflicts).length > 0) {
        throw new AppError('conflict', 'The target is not empty: it holds rows the document does not, or different ones', conflicts);
      }
      const settings = this.deps.settings ? await this.deps.settings.restore(trx, data.settings, dryRun) : null;
      if (settings) for (const [bucket, n] of Object.entries(settings)) if (n > 0) report[bucket as 'created'].settings = n;
      if (!dryRun) await this.write(trx, create, data.secrets);
      return report;
    });
  }

  /** The plain document, decrypted and validated when it came encrypted. */
  private async open(input: ImportRequest): Promise<ExportDocument> {
    if (!('encrypted' in input.document)) {
      if (input.passphrase !== undefined)
        throw new AppError('bad_request', 'A plain document takes no passphrase', { passphrase: ['is only used with an encrypted document'] });
      if (input.document.data.secrets !== undefined)
        throw new AppError('bad_request', 'Only an encrypted document carries secrets', {
          'document/data/secrets': ['is only read from an encrypted document'],
        });
      return input.document;
    }
    if (input.passphrase === undefined)
      throw new AppError('bad_request', 'An encrypted document needs its passphrase', { passphrase: ['is required for an encrypted document'] });
    const text = await decryptDocument(input.document.encrypted, input.passphrase);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new AppError('bad_request', 'The encrypted export does not hold a JSON document');
    }
    const checked = this.deps.validateDocument(value);
    if (!checked.ok) throw new AppError('bad_request', 'The encrypted export does not hold a valid document', checked.details);
    return checked.value;
  }

  private async build(principal: Principal, options: { include_events?: boolean; events_days?: number; include_audit?: boolean }, withSecrets: boolean) {
    const { db } = this.deps;
    const rows = await backupRepo.readAll(db);
    const data = {
      nodes: rows.nodes.map((node) => ({
        id: String(node.id),
        name: String(node.name),
        description: null,
        device_type: String(node.kind),
        status: String(node.status),
        software_version: (node.version as string | null) ?? null,
        metadata: { cluster_id: node.cluster_id, labels: parse(node.labels), last_seen_at: node.last_seen_at },
      })),
      settings: this.deps.settings ? await this.deps.settings.list(db) : [],
      config_templates: [],
      ...this.plainData(rows),
    } as unknown as BackupData;
    if (options.include_events) {
      const since = new Date(Date.now() - (options.events_days ?? 7) * 86_400_000).toISOString();
      data.events = await backupRepo.recentEvents(db, since, EXPORT_LIMIT);
    }
    if (options.include_audit) data.audit_log = this.deps.audit ? await this.deps.audit.recent(db, EXPORT_LIMIT) : [];
    if (withSecrets) data.secrets = this.secretsOf(rows);
    const exportedBy = principal.type === 'operator' ? principal.id : 'master-key';
    return { version: 1 as const, exported_at: nowIso(), exported_by: exportedBy, data };
  }

  /** The document's rows of every kind: the stored rows without a secret, hash or token. */
  private plainData(rows: TableRows): Record<Kind, Row[]> & { users: BackupUser[] } {
    return {
      users: rows.users.map(userInfo),
      clusters: rows.clusters,
      enrollment_keys: rows.enrollment_keys.map((row) => omit(row, 'key')),
      inventory: rows.nodes,
      edge_nodes: rows.edge_nodes.map((row) => omit(row, 'api_token_hash', 'api_token_enc', 'proxy_password_enc')),
      address_allocations: rows.address_allocations,
      aliases: rows.aliases,
      ssh_usernames: rows.ssh_usernames.map((row) => omit(row, 'password_hash')),
      ssh_public_keys: rows.ssh_public_keys,
      vpn_users: rows.vpn_users,
      vpn_subscriptions: rows.vpn_subscriptions.map((row) => omit(row, 'ss_password_enc')),
      core_nodes: rows.core_nodes.map((row) => omit(row, 'registration_secret_hash', 'auth_key_hash')),
      node_protocols: rows.node_protocols.map((row) => ({
        ...omit(row, 'ss_server_key_enc'),
        tls_settings: JSON.stringify(omit(parse(row.tls_settings), 'key_enc')),
        reality_settings: JSON.stringify(omit(parse(row.reality_settings), 'private_key_enc')),
      })),
      subscription_protocols: rows.subscription_protocols,
      node_outbounds: rows.node_outbounds,
      webhooks: rows.webhooks.map((row) => ({ ...omit(row, 'secret_enc', 'headers_enc'), subscribed_events: JSON.parse(String(row.subscribed_events)) })),
    };
  }

  private secretsOf(rows: TableRows): BackupSecrets {
    const open = (sealed: unknown) => this.deps.secrets.open(String(sealed));
    const openIn = (json: unknown, key: string) => {
      const sealed = parse(json)[key];
      return typeof sealed === 'string' ? open(sealed) : null;
    };
    return {
      users: rows.users.map((r) => ({ id: String(r.id), password_hash: String(r.password_hash) })),
      enrollment_keys: rows.enrollment_keys.map((r) => ({ id: String(r.id), key: String(r.key) })),
      edge_nodes: rows.edge_nodes.map((r) => ({
        node_id: String(r.node_id),
        api_token_hash: String(r.api_token_hash),
        api_token: open(r.api_token_enc),
        proxy_password: open(r.proxy_password_enc),
      })),
      ssh_usernames: rows.ssh_usernames.map((r) => ({ id: String(r.id), password_hash: (r.password_hash as string | null) ?? null })),
      core_nodes: rows.core_nodes.map((r) => ({
        node_id: String(r.node_id),
        registration_secret_hash: (r.registration_secret_hash as string | null) ?? null,
        auth_key_hash: (r.auth_key_hash as string | null) ?? null,
      })),
      vpn_subscriptions: rows.vpn_subscriptions.map((r) => ({ id: Number(r.id), ss_password: open(r.ss_password_enc) })),
      node_protocols: rows.node_protocols.map((r) => ({
        id: Number(r.id),
        ss_server_key: r.ss_server_key_enc ? open(r.ss_server_key_enc) : null,
        tls_key: openIn(r.tls_settings, 'key_enc'),
        reality_private_key: openIn(r.reality_settings, 'private_key_enc'),
      })),
      webhooks: rows.webhooks.map((r) => ({
        id: String(r.id),
        secret: open(r.secret_enc),
        headers: JSON.parse(open(r.headers_enc)) as Record<string, string>,
      })),
    };
  }

  /** Inserts the new rows with their secrets: the document's when it has them, else fresh ones (see the header). */
  private async write(trx: Transaction<Database>, create: Partial<Record<Kind, Row[]>>, secrets: BackupSecrets | undefined) {
    const seal = (plain: string) => this.deps.secrets.seal(plain);
    const byId = <T extends Record<string, unknown>>(list: T[] | undefined, key: keyof T) => new Map((list ?? []).map((s) => [String(s[key]), s]));
    const s = {
      users: byId(secrets?.users, 'id'),
      enrollmentKeys: byId(secrets?.enrollment_keys, 'id'),
      edge: byId(secrets?.edge_nodes, 'node_id'),
      ssh: byId(secrets?.ssh_usernames, 'id'),
      core: byId(secrets?.core_nodes, 'node_id'),
      subscriptions: byId(secrets?.vpn_subscriptions, 'id'),
      protocols: byId(secrets?.node_protocols, 'id'),
      webhooks: byId(secrets?.webhooks, 'id'),
    };
    const now = nowIso();
    const rows: Partial<Record<BackupTable, Row[]>> = {
      users: (create.users as BackupUser[] | undefined)?.map((u) => ({
        ...u,
        is_temporary: u.is_temporary ? 1 : 0,
        is_active: u.is_active ? 1 : 0,
        allowed_node_ids: u.allowed_node_ids === null ? null : JSON.stringify(u.allowed_node_ids),
        password_hash: s.users.get(u.id)?.password_hash ?? UNUSABLE_PASSWORD,
        failed_logins: 0,
        locked_until: null,
        inserted_at: now,
        updated_at: now,
      })),
      enrollment_keys: create.enrollment_keys?.flatMap((r) => {
        const key = s.enrollmentKeys.get(String(r.id))?.key;
        return key ? [{ ...r, key }] : [];
      }),
      nodes: create.inventory,
      edge_nodes: create.edge_nodes?.map((r) => {
        const known = s.edge.get(String(r.node_id));
        const token = known?.api_token ?? randomToken();
        return {
          ...r,
          api_token_hash: known?.api_token_hash ?? tokenHash(token),
          api_token_enc: seal(token),
          proxy_password_enc: seal(known?.proxy_password ?? randomToken(24)),
        };
      }),
      ssh_usernames: create.ssh_usernames?.map((r) => ({ ...r, password_hash: s.ssh.get(String(r.id))?.password_hash ?? null })),
      core_nodes: create.core_nodes?.map((r) => {
        const known = s.core.get(String(r.node_id));
        return { ...r, registration_secret_hash: known?.registration_secret_hash ?? null, auth_key_hash: known?.auth_key_hash ?? null };
      }),
      vpn_subscriptions: create.vpn_subscriptions?.map((r) => ({
        ...r,
        ss_password_enc: seal(s.subscriptions.get(String(r.id))?.ss_password ?? newSsSecret()),
      })),
      node_protocols: create.node_protocols?.map((r) => {
        const known = s.protocols.get(String(r.id));
        const method = r.ss_method as string | null;
        const serverKey = known ? known.ss_server_key : method ? newSsServerKey(method) : null;
        const tls = parse(r.tls_settings);
        if (known?.tls_key) tls.key_enc = seal(known.tls_key);
        const reality = parse(r.reality_settings);
        if (r.security === 'reality') {
          const privateKey = known?.reality_private_key ?? newRealityPrivateKey();
          reality.private_key_enc = seal(privateKey);
          if (!known?.reality_private_key) reality.public_key = realityPublicKey(privateKey);
        }
        return { ...r, ss_server_key_enc: serverKey ? seal(serverKey) : null, tls_settings: JSON.stringify(tls), reality_settings: JSON.stringify(reality) };
      }),
      webhooks: create.webhooks?.map((r) => {
        const known = s.webhooks.get(String(r.id));
        return {
          ...r,
          subscribed_events: JSON.stringify(r.subscribed_events),
          secret_enc: seal(known?.secret ?? randomToken(32)),
          headers_enc: seal(JSON.stringify(known?.headers ?? {})),
        };
      }),
      webhook_events: create.webhooks?.flatMap((r) => [...new Set(r.subscribed_events as string[])].map((type) => ({ webhook_id: r.id, event_type: type }))),
    };
    for (const kind of KINDS) rows[KIND_TABLES[kind]] ??= create[kind];
    for (const table of BACKUP_TABLES) {
      const list = rows[table];
      if (list && list.length > 0) await backupRepo.insert(trx, table, list);
    }
    await backupRepo.advanceSerials(trx);
  }
}

function userInfo(row: Row): BackupUser {
  return {
    id: String(row.id),
    username: String(row.username),
    display_name: String(row.display_name),
    email: (row.email as string | null) ?? null,
    role: row.role as BackupUser['role'],
    is_temporary: Number(row.is_temporary) === 1,
    expires_at: (row.expires_at as string | null) ?? null,
    allowed_node_ids: row.allowed_node_ids === null ? null : (JSON.parse(String(row.allowed_node_ids)) as string[]),
    is_active: Number(row.is_active) === 1,
    last_login_at: (row.last_login_at as string | null) ?? null,
  };
}

/** Equal outside volatile columns, `updated_at` and a REALITY public key (it follows the private key). */
function same(kind: Kind, have: Row, want: Row): boolean {
  const ignored = new Set([...(VOLATILE[kind] ?? []), 'updated_at']);
  const comparable = (row: Row) => {
    const out = omit(row, ...ignored);
    if (kind === 'node_protocols') out.reality_settings = JSON.stringify(omit(parse(row.reality_settings), 'public_key'));
    return JSON.stringify(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
  };
  return comparable(have) === comparable(want);
}

/**
 * What the schema cannot say about a document: unique keys and names, references between rows, and
 * JSON columns that parse. A document failing any of these would fail inside the transaction.
 */
function checkIntegrity(data: BackupData): void {
  const problems: ValidationDetails = {};
  const fail = (path: string, message: string) => ((problems[path] ??= []) as string[]).push(message);
  const unique = (kind: string, rows: Row[], columns: string[]) => {
    const seen = new Set<string>();
    rows.forEach((row, i) => {
      const value = columns.map((c) => String(row[c])).join('|');
      if (seen.has(value)) fail(`document/data/${kind}/${i}`, `duplicate ${columns.join(' + ')}`);
      seen.add(value);
    });
  };
  const ids = (rows: Row[], column = 'id') => new Set(rows.map((r) => String(r[column])));
  const refers = (kind: string, rows: Row[], column: string, targets: Set<string>, nullable = false) =>
    rows.forEach((row, i) => {
      if (nullable && row[column] === null) return;
      if (!targets.has(String(row[column]))) fail(`document/data/${kind}/${i}/${column}`, 'refers to a row the document does not have');
    });
  const json = (kind: string, rows: Row[], columns: string[]) =>
    rows.forEach((row, i) => {
      for (const column of columns) {
        if (row[column] === null) continue;
        try {
          const value: unknown = JSON.parse(String(row[column]));
          if (value === null || typeof value !== 'object') fail(`document/data/${kind}/${i}/${column}`, 'must be JSON text of an object or a list');
        } catch {
          fail(`document/data/${kind}/${i}/${column}`, 'must be JSON text');
        }
      }
    });

  const d = data as unknown as Record<Kind, Row[]>;
  for (const kind of KINDS) {
    unique(
      kind,
      d[kind],
      kind === 'edge_nodes' || kind === 'address_allocations' || kind === 'core_nodes'
        ? ['node_id']
        : kind === 'subscription_protocols'
          ? ['subscription_id', 'node_protocol_id']
          : ['id'],
    );
  }
  unique('users', d.users, ['username']);
  unique('clusters', d.clusters, ['name']);
  unique('clusters', d.clusters, ['ipv4_range']);
  unique('aliases', d.aliases, ['cluster_id', 'name']);
  unique('ssh_usernames', d.ssh_usernames, ['node_id', 'username']);
  unique('ssh_public_keys', d.ssh_public_keys, ['ssh_username_id', 'key_name']);
  unique('vpn_users', d.vpn_users, ['username']);
  unique('vpn_subscriptions', d.vpn_subscriptions, ['link_uuid']);
  unique('core_nodes', d.core_nodes, ['core_id']);
  unique('core_nodes', d.core_nodes, ['code']);
  unique('node_protocols', d.node_protocols, ['node_id', 'port']);
  unique('node_outbounds', d.node_outbounds, ['node_id', 'tag']);

  const clusters = ids(d.clusters);
  const nodes = ids(d.inventory);
  const ofKind = (kind: string) => ids(d.inventory.filter((n) => n.kind === kind));
  const coreNodes = ids(d.core_nodes, 'node_id');
  refers('enrollment_keys', d.enrollment_keys, 'cluster_id', clusters);
  refers('inventory', d.inventory, 'cluster_id', clusters, true);
  refers('edge_nodes', d.edge_nodes, 'node_id', ofKind('edge-agent'));
  refers('address_allocations', d.address_allocations, 'node_id', nodes);
  refers('address_allocations', d.address_allocations, 'cluster_id', clusters);
  refers('aliases', d.aliases, 'node_id', nodes);
  refers('aliases', d.aliases, 'cluster_id', clusters);
  refers('ssh_usernames', d.ssh_usernames, 'node_id', nodes);
  refers('ssh_public_keys', d.ssh_public_keys, 'ssh_username_id', ids(d.ssh_usernames));
  refers('vpn_subscriptions', d.vpn_subscriptions, 'user_id', ids(d.vpn_users));
  refers('core_nodes', d.core_nodes, 'node_id', ofKind('core'));
  refers('node_protocols', d.node_protocols, 'node_id', coreNodes);
  refers('node_outbounds', d.node_outbounds, 'node_id', coreNodes);
  refers('subscription_protocols', d.subscription_protocols, 'subscription_id', ids(d.vpn_subscriptions));
  refers('subscription_protocols', d.subscription_protocols, 'node_protocol_id', ids(d.node_protocols));

  json('inventory', d.inventory, ['labels']);
  json('core_nodes', d.core_nodes, ['last_error', 'routing_rules', 'allowed_destinations']);
  json('node_protocols', d.node_protocols, ['transport_settings', 'tls_settings', 'reality_settings', 'mtproto_settings']);
  json('node_outbounds', d.node_outbounds, ['settings', 'stream_settings']);

  const secrets = data.secrets;
  if (secrets) {
    const secretRows = secrets as unknown as Record<string, Row[]>;
    const targets: Record<string, [string, Set<string>]> = {
      users: ['id', ids(d.users)],
      enrollment_keys: ['id', ids(d.enrollment_keys)],
      edge_nodes: ['node_id', ids(d.edge_nodes, 'node_id')],
      ssh_usernames: ['id', ids(d.ssh_usernames)],
      core_nodes: ['node_id', coreNodes],
      vpn_subscriptions: ['id', ids(d.vpn_subscriptions)],
      node_protocols: ['id', ids(d.node_protocols)],
      webhooks: ['id', ids(d.webhooks)],
    };
    for (const [kind, [column, set]] of Object.entries(targets)) {
      refers(`secrets/${kind}`, secretRows[kind]!, column, set);
      unique(`secrets/${kind}`, secretRows[kind]!, [column]);
    }
    unique('secrets/enrollment_keys', secretRows.enrollment_keys!, ['key']);
    unique('secrets/edge_nodes', secretRows.edge_nodes!, ['api_token_hash']);
    unique(
      'secrets/core_nodes',
      secretRows.core_nodes!.filter((r) => r.auth_key_hash !== null),
      ['auth_key_hash'],
    );
  }
  if (Object.keys(problems).length > 0) throw new AppError('bad_request', 'The document contradicts itself', problems);
}
