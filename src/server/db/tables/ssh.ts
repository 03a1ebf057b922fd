/** Row types of the ssh tables (see migration 0006_ssh); part of the Database interface. */
import type { Selectable } from 'kysely';

export interface SshUsernamesTable {
  id: string;
  node_id: string;
  username: string;
  /** Argon2id PHC string; null = no password login. Never leaves the service. */
  password_hash: string | null;
  inserted_at: string;
  updated_at: string;
}

export interface SshPublicKeysTable {
  id: string;
  ssh_username_id: string;
  key_name: string;
  /** As submitted (trimmed), comment included. */
  public_key: string;
  /** `<algorithm> <base64>`: the part verification compares. */
  key_data: string;
  inserted_at: string;
  updated_at: string;
}

export interface SshTables {
  ssh_usernames: SshUsernamesTable;
  ssh_public_keys: SshPublicKeysTable;
}

export type SshUsernameRow = Selectable<SshUsernamesTable>;
export type SshPublicKeyRow = Selectable<SshPublicKeysTable>;
