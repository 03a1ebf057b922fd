/** SSH usernames and public keys of edge nodes (edge-admin spec §3 rows 38–45, §4, §9.1). */
import { Type, type Static } from 'typebox';
import { ListQuery, Timestamp, Uuid, Nullable } from '../types.ts';

export const SSH_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;
export type SshKeyAlgorithm = (typeof SSH_KEY_ALGORITHMS)[number];

/**
 * The contract's public_key pattern,
 * `^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa)\s+([A-Za-z0-9+/]+=*)\s*(.*)$`, rewritten to
 * accept the same strings (group 2 is the same base64 text) in linear time: as written it backtracks
 * quadratically on a long key followed by a line break, and ajv would run it on any body up to the
 * size limit. Lookahead + backreference makes the two greedy runs atomic. The final `\n?` gives `$`
 * the meaning it has in upstream's regex engine (PCRE), where it also matches before a final
 * newline, so a key pasted from `cat id_ed25519.pub` is accepted there and here.
 */
export const SSH_PUBLIC_KEY_PATTERN =
  '^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa)\\s+(?=([A-Za-z0-9+/]+=*))\\2(?=((?:[^\\S\\n\\r\\u2028\\u2029]*[\\n\\r\\u2028\\u2029])*))\\3[^\\n\\r\\u2028\\u2029]*\\n?$';

export const SshPublicKey = Type.Object({
  id: Uuid,
  public_key: Type.String(),
  key_name: Type.String(),
  ssh_username_id: Uuid,
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type SshPublicKey = Static<typeof SshPublicKey>;

/** Never the password hash: `has_password` says whether there is one. */
export const SshUsername = Type.Object({
  id: Uuid,
  username: Type.String(),
  has_password: Type.Boolean(),
  node_id: Uuid,
  public_keys: Type.Array(SshPublicKey),
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type SshUsername = Static<typeof SshUsername>;

export const SshUsernameName = Type.String({ minLength: 3, maxLength: 32, pattern: '^[a-z_][a-z0-9_-]*$' });

/**
 * Keys nested in a username create carry no schema constraints in the contract: their format is
 * checked by the service and reported as 422 `public_keys: ["key <i>: …"]` (spec §9.1).
 */
export const NestedPublicKey = Type.Object({ key_name: Type.String(), public_key: Type.String() }, { additionalProperties: false });

export const SshUsernameCreateRequest = Type.Object(
  {
    username: SshUsernameName,
    password: Type.Optional(Nullable(Type.String({ minLength: 12, maxLength: 128 }))),
    // The contract sets no bound; 100 keys per request keeps one transaction small.
    public_keys: Type.Optional(Nullable(Type.Array(NestedPublicKey, { maxItems: 100 }))),
  },
  { additionalProperties: false },
);
export type SshUsernameCreateRequest = Static<typeof SshUsernameCreateRequest>;

export const SshPublicKeyCreateRequest = Type.Object(
  {
    key_name: Type.String({ minLength: 1, maxLength: 255 }),
    public_key: Type.String({ pattern: SSH_PUBLIC_KEY_PATTERN }),
  },
  { additionalProperties: false },
);
export type SshPublicKeyCreateRequest = Static<typeof SshPublicKeyCreateRequest>;

export const SshIdParams = Type.Object({ id: Uuid }, { additionalProperties: false });
export const SshNodeParams = Type.Object({ node_id: Uuid }, { additionalProperties: false });
export const SshUsernameParams = Type.Object({ ssh_username_id: Uuid }, { additionalProperties: false });

const StringFilter = Type.String({ maxLength: 500 });

export const SshUsernameListQuery = ListQuery({
  username: Type.Optional(StringFilter),
  node_id: Type.Optional(Uuid),
  has_password: Type.Optional(Type.Boolean()),
  cluster_name: Type.Optional(StringFilter),
});
export type SshUsernameListQuery = Static<typeof SshUsernameListQuery>;

export const SshPublicKeyListQuery = ListQuery({
  key_name: Type.Optional(StringFilter),
  public_key: Type.Optional(StringFilter),
  ssh_username_id: Type.Optional(Uuid),
  node_id: Type.Optional(Uuid),
  username: Type.Optional(StringFilter),
  cluster_name: Type.Optional(StringFilter),
});
export type SshPublicKeyListQuery = Static<typeof SshPublicKeyListQuery>;
