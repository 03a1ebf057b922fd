/**
 * Client credentials and names derived from a subscription (specs/core-node.md §1.1, §2.3, §2.4,
 * §3.3). Shared by the config renderer and the share-link generator, which must agree exactly.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { ss2022UserKey } from './share-links.ts';

export const newLinkUuid = (): string => randomUUID();

/** Xray inbound tag of a node protocol. */
export const protocolTag = (nodeProtocolId: number): string => `np-${nodeProtocolId}`;

/**
 * Per-inbound client email (§2.3 option 1): Xray counts traffic per email and shares one counter
 * between inbounds with the same email, so the inbound is part of it. The agent splits at `@`.
 */
export const clientEmail = (linkUuid: string, nodeProtocolId: number): string => `${linkUuid.toLowerCase()}@np-${nodeProtocolId}`;

/** telemt's user secret: exactly 32 hex chars, the link UUID without hyphens. */
export const mtprotoSecret = (linkUuid: string): string => linkUuid.replaceAll('-', '').toLowerCase();

/** SS-2022 key lengths in bytes (§2.4); other methods take any password. */
export const SS2022_KEY_BYTES: Record<string, number> = {
  '2022-blake3-aes-128-gcm': 16,
  '2022-blake3-aes-256-gcm': 32,
};

export const isSs2022 = (method: string): boolean => method in SS2022_KEY_BYTES;

/** A subscription's Shadowsocks secret: 32 random bytes, standard base64 (stored sealed). */
export const newSsSecret = (): string => randomBytes(32).toString('base64');

/**
 * The client password for `method`: the secret itself for AEAD ciphers, the SS-2022 user PSK
 * derived from it otherwise. Share links use the same derivation (share-links.ts), so a link and
 * the inbound it points at always agree.
 */
export const ssUserPassword = (secret: string, method: string): string => (isSs2022(method) ? ss2022UserKey(secret, method) : secret);

export const newSsServerKey = (method: string): string => randomBytes(SS2022_KEY_BYTES[method] ?? 32).toString('base64');

/** A server PSK is valid when it is standard base64 of exactly the cipher's key length. */
export function validSsServerKey(key: string, method: string): boolean {
  const length = SS2022_KEY_BYTES[method];
  if (length === undefined) return key.length > 0;
  const bytes = Buffer.from(key, 'base64');
  return bytes.length === length && bytes.toString('base64') === key;
}

const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The public half of a REALITY X25519 private key (both base64url, as `xray x25519` prints). */
export function realityPublicKey(privateKey: string): string | null {
  const raw = Buffer.from(privateKey.replace(/=+$/, ''), 'base64url');
  if (raw.length !== 32) return null;
  try {
    const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
    return createPublicKey(key).export({ format: 'jwk' }).x ?? null;
  } catch {
    return null;
  }
}

export function newRealityPrivateKey(): string {
  const { privateKey } = generateKeyPairSync('x25519');
  return privateKey.export({ format: 'jwk' }).d!;
}
