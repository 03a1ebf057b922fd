/**
 * The enrollment key blob (edge-admin spec §6.3): standard base64 of JSON
 * `{"admin_urls": [...], "nonce": "..."}`. The server looks keys up by the whole blob and never decodes
 * it; the agent decodes it only to learn where the control plane is.
 */

export interface EnrollmentKeyInfo {
  adminUrls: string[];
  nonce: string;
}

export class EnrollmentKeyError extends Error {}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

export function decodeEnrollmentKey(blob: string): EnrollmentKeyInfo {
  const trimmed = blob.trim();
  // Buffer.from(…, 'base64') silently skips junk, so the alphabet is checked first.
  if (!trimmed || !BASE64.test(trimmed)) throw new EnrollmentKeyError('enrollment key is not base64');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw new EnrollmentKeyError('enrollment key does not decode to JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new EnrollmentKeyError('enrollment key does not decode to a JSON object');
  }
  const { admin_urls: adminUrls, nonce } = parsed as Record<string, unknown>;
  if (!Array.isArray(adminUrls) || !adminUrls.every((u) => typeof u === 'string')) {
    throw new EnrollmentKeyError('enrollment key has no admin_urls list');
  }
  const urls = adminUrls.map((u) => u.trim()).filter(Boolean);
  for (const url of urls) {
    if (!isHttpUrl(url)) throw new EnrollmentKeyError(`enrollment key admin_urls entry is not an http(s) URL: ${url}`);
  }
  return { adminUrls: urls.map(stripTrailingSlash), nonce: typeof nonce === 'string' ? nonce : '' };
}

export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

export const stripTrailingSlash = (url: string): string => url.replace(/\/+$/, '');
