/**
 * Secrets at rest. Values that must be shown again are sealed with AES-256-GCM under the data key;
 * the sealed text carries the key id so keys can rotate (old ids stay decryptable while listed).
 * Values that need only be checked are hashed.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface DataKey {
  id: string;
  key: Buffer;
}

export class SecretBox {
  private readonly keys: Map<string, Buffer>;

  constructor(
    private readonly current: DataKey,
    older: DataKey[] = [],
  ) {
    this.keys = new Map([...older, current].map((k) => [k.id, k.key]));
  }

  /** `v1.<keyId>.<iv>.<tag>.<ciphertext>`, base64url parts. */
  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', this.current.id, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  open(sealed: string): string {
    const [version, keyId, iv, tag, body] = sealed.split('.');
    const key = keyId === undefined ? undefined : this.keys.get(keyId);
    if (version !== 'v1' || !key || !iv || !tag || body === undefined) throw new Error('sealed secret has an unknown format or key id');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }
}

/** Key id = first 8 hex chars of the key's SHA-256, so the same key always has the same id. */
export function dataKeyFromBytes(key: Buffer): DataKey {
  if (key.length !== 32) throw new Error('the data key must be 32 bytes');
  return { id: createHash('sha256').update(key).digest('hex').slice(0, 8), key };
}

/** Lookup hash for bearer tokens: high-entropy random values need no slow hash. */
export const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

/** base64 without padding of `bytes` random bytes (the shape of node api tokens and nonces). */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64').replace(/=+$/, '');

export function constantTimeEqual(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right) && a.length === b.length;
}
