/**
 * The enrollment key blob (edge-admin spec §6.3): standard, padded base64 of
 * `{"admin_urls": [...], "nonce": <base64 without padding of 32 random bytes>}`. The server looks
 * keys up by the whole blob and never decodes it; agents decode it to learn where the admins are.
 */
import { randomToken } from '../../lib/secrets.ts';

export interface EnrollmentBlob {
  admin_urls: string[];
  nonce: string;
}

export function newEnrollmentBlob(adminUrls: string[]): string {
  const payload: EnrollmentBlob = { admin_urls: adminUrls, nonce: randomToken(32) };
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64');
}

/** For agents and tests; null when the text is not a blob of this shape. */
export function decodeEnrollmentBlob(blob: string): EnrollmentBlob | null {
  try {
    const value = JSON.parse(Buffer.from(blob, 'base64').toString('utf8')) as Partial<EnrollmentBlob>;
    if (!Array.isArray(value.admin_urls) || !value.admin_urls.every((u) => typeof u === 'string') || typeof value.nonce !== 'string') return null;
    return { admin_urls: value.admin_urls, nonce: value.nonce };
  } catch {
    return null;
  }
}
