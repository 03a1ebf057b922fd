/**
 * The encrypted export's envelope (format in contract/admin/backup.ts): scrypt turns the passphrase
 * into an AES-256-GCM key. N = 2^15, r = 8 costs ~32 MiB and a few hundred ms per export or import,
 * which an offline guesser pays per guess too. Opening reads N, r, p from the envelope, within bounds
 * the contract sets, so the cost can be raised later without breaking old exports.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import type { EncryptedPayload } from '../../../contract/admin/backup.ts';
import { AppError } from '../../errors.ts';

const COST = { N: 32_768, r: 8, p: 1 };

function deriveKey(passphrase: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(passphrase, salt, 32, { ...cost, maxmem: 256 * cost.N * cost.r + 1024 * 1024 }, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

export async function encryptDocument(plaintext: string, passphrase: string): Promise<EncryptedPayload> {
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', await deriveKey(passphrase, salt, COST), nonce);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return {
    kdf: 'scrypt',
    ...COST,
    salt: salt.toString('base64'),
    cipher: 'aes-256-gcm',
    nonce: nonce.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64'),
  };
}

/** The plaintext, or 400 when the passphrase is wrong or the envelope was altered (GCM cannot tell which). */
export async function decryptDocument(payload: EncryptedPayload, passphrase: string): Promise<string> {
  const nonce = Buffer.from(payload.nonce, 'base64');
  const tag = Buffer.from(payload.tag, 'base64');
  if (nonce.length !== 12 || tag.length !== 16) throw new AppError('bad_request', 'The encrypted export is damaged');
  let key: Buffer;
  try {
    key = await deriveKey(passphrase, Buffer.from(payload.salt, 'base64'), { N: payload.N, r: payload.r, p: payload.p });
  } catch {
    // N not a power of two, or more memory than allowed.
    throw new AppError('bad_request', 'The encrypted export has invalid scrypt parameters');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(payload.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new AppError('bad_request', 'Wrong passphrase, or the encrypted export was altered');
  }
}
