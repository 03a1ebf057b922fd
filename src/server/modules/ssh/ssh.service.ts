import { randomBytes } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import type { Kysely } from 'kysely';
import type {
  SshPublicKey,
  SshPublicKeyCreateRequest,
  SshPublicKeyListQuery,
  SshUsername,
  SshUsernameCreateRequest,
  SshUsernameListQuery,
} from '../../../contract/admin/ssh.ts';
import type { VerifyCredentialsRequest, VerifyCredentialsResult } from '../../../contract/agents/ssh.ts';
import type { Page } from '../../db/listing.ts';
import type { Database } from '../../db/schema.ts';
import type { Outbox } from '../../events/outbox.ts';
import { NotFoundError, ValidationError } from '../../errors.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { microsecondTimestamp, nowIso, toSecondPrecision } from '../../lib/time.ts';
import { rethrowTaken } from '../clusters/cluster.service.ts';
import { nodeRepo } from '../nodes/node.repo.ts';
import { keyDataOf, parseOpenSshPublicKey, PublicKeyError } from './openssh-key.ts';
import { type SshUsernameRecord, sshRepo } from './ssh.repo.ts';
import type { SshPublicKeyRow } from '../../db/tables/ssh.ts';
import type { NodePrincipal, Principal } from '../../principal.ts';
import { assertNodeAccess, canTouchNode, nodeScopeOf } from '../../access.ts';

const KEY_NAME_MAX = 255;

type Db = Kysely<Database>;

export interface SshDeps {
  db: Db;
  outbox: Outbox;
}

/**
 * SSH access to edge nodes (edge-admin spec §9): usernames with an optional Argon2id password and
 * OpenSSH public keys, managed by operators and checked by the node's agent on every login.
 * Usernames are access identities that the agent maps to its own OS account, not OS accounts.
 */
export class SshService {
  private readonly db: Db;
  /** Hash verified when there is no real one, so a missing user or password costs the same time. */
  private decoyHash: Promise<string> | null = null;

  constructor(readonly deps: SshDeps) {
    this.db = deps.db;
  }

  // ── usernames ───────────────────────────────────────────────────────────────────────────────

  /** The username and all its keys are stored in one transaction: a bad key stores nothing. */
  async createUsername(principal: Principal, nodeId: string, input: SshUsernameCreateRequest): Promise<SshUsername> {
    assertNodeAccess(principal, nodeId);
    if (!(await nodeRepo.find(this.db, nodeId))) throw new NotFoundError('Node');
    const id = uuidv7();
    const now = nowIso();
    const keys = this.nestedKeys(id, input.public_keys ?? [], now);
    // Hashing is slow by design; done before the transaction so no connection waits on it.
    const passwordHash = input.password == null ? null : await argon2Hash(input.password);
    await this.db.transaction().execute(async (trx) => {
      // Locked so a concurrent node delete cannot slip between this check and the insert.
      const node = await sshRepo.lockNode(trx, nodeId);
      if (!node) throw new NotFoundError('Node');
      await sshRepo
        .insertUsername(trx, { id, node_id: nodeId, username: input.username, password_hash: passwordHash, inserted_at: now, updated_at: now })
        .catch(rethrowTaken);
      await sshRepo.insertKeys(trx, keys).catch(rethrowTaken);
    });
    return this.getUsername(principal, id);
  }

  async getUsername(principal: Principal, id: string): Promise<SshUsername> {
    return (await this.renderUsernames([await this.requireUsername(this.db, principal, id)]))[0]!;
  }

  async listUsernames(principal: Principal, query: SshUsernameListQuery): Promise<Page<SshUsername>> {
    const page = await sshRepo.listUsernames(this.db, query, nodeScopeOf(principal));
    return { items: await this.renderUsernames(page.items), pagination: page.pagination };
  }

  async deleteUsername(principal: Principal, id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.requireUsername(trx, principal, id);
      if (!(await sshRepo.deleteUsername(trx, id))) throw new NotFoundError('SSH username');
    });
  }

  // ── public keys ─────────────────────────────────────────────────────────────────────────────

  async createKey(principal: Principal, usernameId: string, input: SshPublicKeyCreateRequest): Promise<SshPublicKey> {
    await this.requireUsername(this.db, principal, usernameId);
    const problems = keyNameProblems(input.key_name);
    let keyData = '';
    try {
      keyData = parseOpenSshPublicKey(input.public_key).keyData;
    } catch (error) {
      if (!(error instanceof PublicKeyError)) throw error;
      const details: Record<string, string[]> = { public_key: [error.message] };
      if (problems.length) details.key_name = problems;
      throw new ValidationError(details);
    }
    if (problems.length) throw new ValidationError({ key_name: problems });
    const now = nowIso();
    const row: SshPublicKeyRow = {
      id: uuidv7(),
      ssh_username_id: usernameId,
      key_name: input.key_name,
      public_key: input.public_key.trim(),
      key_data: keyData,
      inserted_at: now,
      updated_at: now,
    };
    await this.db.transaction().execute(async (trx) => {
      const parent = await sshRepo.lockUsername(trx, usernameId);
      if (!parent) throw new NotFoundError('SSH username');
      await sshRepo.insertKeys(trx, [row]).catch(rethrowTaken);
    });
    return renderKey(row);
  }

  async getKey(principal: Principal, id: string): Promise<SshPublicKey> {
    return renderKey(await this.requireKey(this.db, principal, id));
  }

  async listKeys(principal: Principal, query: SshPublicKeyListQuery): Promise<Page<SshPublicKey>> {
    const page = await sshRepo.listKeys(this.db, query, nodeScopeOf(principal));
    return { items: page.items.map(renderKey), pagination: page.pagination };
  }

  async deleteKey(principal: Principal, id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.requireKey(trx, principal, id);
      if (!(await sshRepo.deleteKey(trx, id))) throw new NotFoundError('SSH public key');
    });
  }

  /** Usernames and keys belong to a node: outside the caller's scope they do not exist. */
  private async requireUsername(db: Db, principal: Principal, id: string): Promise<SshUsernameRecord> {
    const row = await sshRepo.findUsername(db, id);
    if (!row || !canTouchNode(principal, row.node_id)) throw new NotFoundError('SSH username');
    return row;
  }

  private async requireKey(db: Db, principal: Principal, id: string): Promise<SshPublicKeyRow> {
    const row = await sshRepo.findKey(db, id);
    if (!row || !canTouchNode(principal, row.node_id)) throw new NotFoundError('SSH public key');
    return row;
  }

  // ── agent verification ──────────────────────────────────────────────────────────────────────

  /**
   * Whether `username` on the calling node accepts the password or key (spec §9.2). The answer is
   * a bare boolean whatever failed, and every attempt is recorded as `edge.ssh_username.verified`.
   * The lookup and the Argon2 check run before the event's transaction: holding a transaction (on
   * SQLite, the only connection) through a deliberately slow hash would stall every other writer.
   */
  async verifyCredentials({ id: nodeId }: NodePrincipal, input: VerifyCredentialsRequest): Promise<VerifyCredentialsResult> {
    const password = input.password ?? null;
    const publicKey = input.public_key ?? null;
    if (password === null && publicKey === null) throw new ValidationError({ base: ['either password or public_key is required'] });
    if (password !== null && publicKey !== null) throw new ValidationError({ base: ['give either password or public_key, not both'] });

    const row = await sshRepo.findUsernameOnNode(this.db, nodeId, input.username);
    let verified = false;
    if (password !== null) {
      const stored = row?.password_hash ?? null;
      const ok = await argon2Verify(stored ?? (await this.decoy()), password).catch(() => false);
      verified = stored !== null && ok;
    } else if (row) {
      const keyData = keyDataOf(publicKey!);
      verified = keyData !== null && (await sshRepo.hasKeyData(this.db, row.id, keyData));
    }

    await this.deps.outbox.run(async (_trx, emit) => {
      emit('edge.ssh_username.verified', {
        ssh_username_id: row?.id ?? null,
        node_id: row?.node_id ?? null,
        cluster_name: row?.cluster_name ?? null,
        username: input.username,
        auth_method: row ? (password !== null ? 'password' : 'public_key') : 'unknown',
        result: verified ? 'success' : 'failure',
        verified_at: microsecondTimestamp(),
      });
    });
    return { verified };
  }

  // ── helpers ─────────────────────────────────────────────────────────────────────────────────

  /** Rows for the keys of a username create, or a 422 listing every bad key as `key <i>: …`. */
  private nestedKeys(usernameId: string, keys: Array<{ key_name: string; public_key: string }>, now: string): SshPublicKeyRow[] {
    const problems: string[] = [];
    const rows: SshPublicKeyRow[] = [];
    const seen = new Set<string>();
    // Keys of one request share a timestamp; ascending ids keep them listed in request order.
    const ids = keys.map(() => uuidv7(Date.parse(now))).sort();
    keys.forEach((key, i) => {
      for (const problem of keyNameProblems(key.key_name)) problems.push(`key ${i}: key_name ${problem}`);
      if (seen.has(key.key_name)) problems.push(`key ${i}: key_name has already been taken`);
      seen.add(key.key_name);
      try {
        const parsed = parseOpenSshPublicKey(key.public_key);
        rows.push({
          id: ids[i]!,
          ssh_username_id: usernameId,
          key_name: key.key_name,
          public_key: key.public_key.trim(),
          key_data: parsed.keyData,
          inserted_at: now,
          updated_at: now,
        });
      } catch (error) {
        if (!(error instanceof PublicKeyError)) throw error;
        problems.push(`key ${i}: public_key ${error.message}`);
      }
    });
    if (problems.length) throw new ValidationError({ public_keys: problems });
    return rows;
  }

  private decoy(): Promise<string> {
    this.decoyHash ??= argon2Hash(randomBytes(24).toString('base64'));
    return this.decoyHash;
  }

  private async renderUsernames(rows: SshUsernameRecord[]): Promise<SshUsername[]> {
    const keys = await sshRepo.keysOf(
      this.db,
      rows.map((r) => r.id),
    );
    const byUsername = new Map<string, SshPublicKey[]>();
    for (const key of keys) byUsername.set(key.ssh_username_id, [...(byUsername.get(key.ssh_username_id) ?? []), renderKey(key)]);
    return rows.map((row) => ({
      id: row.id,
      username: row.username,
      has_password: row.password_hash !== null,
      node_id: row.node_id,
      public_keys: byUsername.get(row.id) ?? [],
      inserted_at: toSecondPrecision(row.inserted_at),
      updated_at: toSecondPrecision(row.updated_at),
    }));
  }
}

function keyNameProblems(name: string): string[] {
  if (name.trim() === '') return ["can't be blank"];
  if (name.length > KEY_NAME_MAX) return [`should be at most ${KEY_NAME_MAX} character(s)`];
  return [];
}

function renderKey(row: SshPublicKeyRow): SshPublicKey {
  return {
    id: row.id,
    public_key: row.public_key,
    key_name: row.key_name,
    ssh_username_id: row.ssh_username_id,
    inserted_at: toSecondPrecision(row.inserted_at),
    updated_at: toSecondPrecision(row.updated_at),
  };
}
