/**
 * OpenSSH key encodings built from node:crypto key objects: public keys in the `authorized_keys`
 * text form (RFC 4253 §6.6, RFC 5656 §3.1) and an Ed25519 private key in the `openssh-key-v1`
 * format (OpenSSH PROTOCOL.key), which is what ssh2 reads host keys from.
 */
import { type KeyObject, randomBytes } from 'node:crypto';

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** RFC 4251 `string`. */
export const sshString = (data: Buffer | string): Buffer => {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([u32(bytes.length), bytes]);
};

/** RFC 4251 `mpint` of a non-negative big-endian magnitude. */
const sshMpint = (magnitude: Buffer): Buffer => {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return sshString(trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
};

const CURVE_NAMES: Record<string, string> = { 'P-256': 'nistp256', 'P-384': 'nistp384', 'P-521': 'nistp521' };

/** The public key blob and its algorithm name, from a public or private key object. */
export function openSshPublicBlob(key: KeyObject): { algorithm: string; blob: Buffer } {
  const jwk = key.export({ format: 'jwk' }) as Record<string, string>;
  const b64 = (s: string) => Buffer.from(s, 'base64url');
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    return { algorithm: 'ssh-ed25519', blob: Buffer.concat([sshString('ssh-ed25519'), sshString(b64(jwk.x!))]) };
  }
  if (jwk.kty === 'EC' && CURVE_NAMES[jwk.crv!]) {
    const curve = CURVE_NAMES[jwk.crv!]!;
    const algorithm = `ecdsa-sha2-${curve}`;
    const point = Buffer.concat([Buffer.from([4]), b64(jwk.x!), b64(jwk.y!)]);
    return { algorithm, blob: Buffer.concat([sshString(algorithm), sshString(curve), sshString(point)]) };
  }
  if (jwk.kty === 'RSA') {
    return { algorithm: 'ssh-rsa', blob: Buffer.concat([sshString('ssh-rsa'), sshMpint(b64(jwk.e!)), sshMpint(b64(jwk.n!))]) };
  }
  throw new Error(`no OpenSSH encoding for ${jwk.kty} ${jwk.crv ?? ''} keys`);
}

/** `<algorithm> <base64> [comment]`, as in authorized_keys. */
export function openSshPublicKey(key: KeyObject, comment = ''): string {
  const { algorithm, blob } = openSshPublicBlob(key);
  return `${algorithm} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** An unencrypted Ed25519 private key as `-----BEGIN OPENSSH PRIVATE KEY-----`. */
export function openSshEd25519PrivateKey(privateKey: KeyObject, comment = ''): string {
  const jwk = privateKey.export({ format: 'jwk' }) as Record<string, string>;
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.d) throw new Error('not an Ed25519 private key');
  const seed = Buffer.from(jwk.d, 'base64url');
  const pub = Buffer.from(jwk.x!, 'base64url');
  const { blob } = openSshPublicBlob(privateKey);
  const check = randomBytes(4);
  let secret = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  // Padded with 1, 2, 3… to the cipher block size (8 for "none").
  const padding = Buffer.from(Array.from({ length: (8 - (secret.length % 8)) % 8 }, (_, i) => i + 1));
  secret = Buffer.concat([secret, padding]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    u32(1),
    sshString(blob),
    sshString(secret),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g)!;
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}
