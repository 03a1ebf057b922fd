/**
 * OpenSSH public keys (`<algorithm> <base64> [comment]`, RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709):
 * the text form is checked against the contract's pattern, then the base64 blob is decoded strictly
 * and parsed as the wire structure of the declared algorithm, and the key material is handed to
 * node:crypto, which refuses points off the curve and malformed RSA numbers.
 */
import { createPublicKey } from 'node:crypto';
import { SSH_PUBLIC_KEY_PATTERN, type SshKeyAlgorithm } from '../../../contract/admin/ssh.ts';

const PATTERN = new RegExp(SSH_PUBLIC_KEY_PATTERN, 'u');
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface OpenSshPublicKey {
  algorithm: SshKeyAlgorithm;
  /** Canonical base64 of the key blob. */
  base64: string;
  /** `<algorithm> <base64>`: what two spellings of one key have in common. */
  keyData: string;
}

/** A key that cannot be accepted; `message` is the user-facing reason (a 422 detail). */
export class PublicKeyError extends Error {}

const CURVES: Record<string, { curve: string; jwk: string; coordinate: number }> = {
  'ecdsa-sha2-nistp256': { curve: 'nistp256', jwk: 'P-256', coordinate: 32 },
  'ecdsa-sha2-nistp384': { curve: 'nistp384', jwk: 'P-384', coordinate: 48 },
  'ecdsa-sha2-nistp521': { curve: 'nistp521', jwk: 'P-521', coordinate: 66 },
};

/** OpenSSH refuses RSA keys outside these sizes (SSH_RSA_MINIMUM_MODULUS_SIZE, OPENSSL_RSA_MAX_MODULUS_BITS). */
const RSA_MIN_BITS = 1024;
const RSA_MAX_BITS = 16384;

/** Parses `text` (trimmed first, as upstream does) or throws PublicKeyError. */
export function parseOpenSshPublicKey(text: string): OpenSshPublicKey {
  const match = PATTERN.exec(text.trim());
  if (!match) throw new PublicKeyError('invalid SSH key format');
  const algorithm = match[1] as SshKeyAlgorithm;
  const encoded = match[2]!;
  // Buffer.from(…, 'base64') skips junk silently; only the one canonical spelling is accepted.
  if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) throw new PublicKeyError('invalid base64 key data');
  const blob = Buffer.from(encoded, 'base64');
  if (blob.toString('base64') !== encoded) throw new PublicKeyError('invalid base64 key data');
  checkBlob(algorithm, blob);
  return { algorithm, base64: encoded, keyData: `${algorithm} ${encoded}` };
}

/** `<algorithm> <base64>` of any key text, for comparison only (no validation): null when it has no two fields. */
export function keyDataOf(text: string): string | null {
  const [algorithm, base64] = text.trim().split(/\s+/, 2);
  return algorithm && base64 ? `${algorithm} ${base64}` : null;
}

function checkBlob(algorithm: SshKeyAlgorithm, blob: Buffer): void {
  const reader = new WireReader(blob);
  const invalid = () => new PublicKeyError(`invalid ${algorithm} key data`);
  const embedded = reader.string();
  if (embedded === null) throw invalid();
  const name = embedded.toString('latin1');
  if (name !== algorithm) {
    throw new PublicKeyError(/^[\x21-\x7e]{1,64}$/.test(name) ? `key data is a ${name} key, not ${algorithm}` : `key data is not a ${algorithm} key`);
  }

  if (algorithm === 'ssh-ed25519') {
    const key = reader.string();
    if (key === null || key.length !== 32 || !reader.done()) throw invalid();
    importJwk({ kty: 'OKP', crv: 'Ed25519', x: key.toString('base64url') }, invalid);
    return;
  }

  if (algorithm === 'ssh-rsa') {
    const e = reader.mpint();
    const n = reader.mpint();
    if (e === null || n === null || !reader.done()) throw invalid();
    // e must be odd and at least 3 (FIPS 186-5 and OpenSSL both refuse others).
    if (e.length === 0 || (e[e.length - 1]! & 1) === 0 || (e.length === 1 && e[0]! < 3)) throw invalid();
    const bits = n.length === 0 ? 0 : (n.length - 1) * 8 + (32 - Math.clz32(n[0]!));
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS)
      throw new PublicKeyError(`ssh-rsa keys must have ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits, this one has ${bits}`);
    importJwk({ kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, invalid);
    return;
  }

  const spec = CURVES[algorithm]!;
  const curve = reader.string();
  const point = reader.string();
  if (curve === null || point === null || !reader.done()) throw invalid();
  if (curve.toString('latin1') !== spec.curve) throw new PublicKeyError(`key data names another curve than ${spec.curve}`);
  // Uncompressed point only: 0x04 ‖ X ‖ Y, which is what OpenSSH writes.
  if (point.length !== 1 + 2 * spec.coordinate || point[0] !== 0x04) throw invalid();
  const x = point.subarray(1, 1 + spec.coordinate).toString('base64url');
  const y = point.subarray(1 + spec.coordinate).toString('base64url');
  importJwk({ kty: 'EC', crv: spec.jwk, x, y }, invalid);
}

function importJwk(jwk: Record<string, string>, invalid: () => PublicKeyError): void {
  try {
    createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw invalid();
  }
}

/** RFC 4251 §5 `string` and `mpint` fields. */
class WireReader {
  private offset = 0;

  constructor(private readonly buffer: Buffer) {}

  string(): Buffer | null {
    if (this.offset + 4 > this.buffer.length) return null;
    const length = this.buffer.readUInt32BE(this.offset);
    const start = this.offset + 4;
    if (length > this.buffer.length - start) return null;
    this.offset = start + length;
    return this.buffer.subarray(start, start + length);
  }

  /** A non-negative mpint's magnitude without leading zeros; null for negative or truncated ones. */
  mpint(): Buffer | null {
    const raw = this.string();
    if (raw === null) return null;
    if (raw.length > 0 && (raw[0]! & 0x80) !== 0) return null;
    let start = 0;
    while (start < raw.length && raw[start] === 0) start++;
    return raw.subarray(start);
  }

  done(): boolean {
    return this.offset === this.buffer.length;
  }
}
