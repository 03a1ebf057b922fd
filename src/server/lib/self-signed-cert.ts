/**
 * A self-signed X.509 v3 certificate for the manager listener when no certificate is configured.
 * None of our dependencies writes certificates (and `@peculiar/x509` wants a global reflect-metadata
 * polyfill), so this file DER-encodes the few structures one needs; every key, hash and signature
 * comes from node:crypto. ECDSA P-256 keeps the key small and the handshake cheap.
 */
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

export interface SelfSignedCert {
  certPem: string;
  keyPem: string;
  /** `cert_fingerprint` of the nodes (manager spec §1.1). */
  fingerprint: string;
}

export interface SelfSignedOptions {
  commonName: string;
  /** Subject alternative names: DNS names and IPv4/IPv6 addresses. */
  altNames: string[];
  validDays: number;
  now?: Date;
}

// ── DER ───────────────────────────────────────────────────────────────────────────────────────

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};

const sequence = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);
const explicit = (n: number, inner: Buffer) => tlv(0xa0 | n, inner);
const octetString = (bytes: Buffer) => tlv(0x04, bytes);
const bitString = (bytes: Buffer) => tlv(0x03, Buffer.from([0]), bytes);
const utf8String = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const boolean = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0]));

/** A non-negative integer given as big-endian bytes, minimally encoded. */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a! + b!];
  for (const arc of rest) {
    const groups: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      groups.unshift((v % 128) | (groups.length ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(at: Date): Buffer {
  const iso = at.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return at.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

function ipBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map(Number));
  const [head, tail = ''] = address.split('::');
  const groups = (part: string) => (part ? part.split(':') : []);
  const missing = 8 - groups(head!).length - groups(tail).length;
  const all = address.includes('::') ? [...groups(head!), ...Array<string>(missing).fill('0'), ...groups(tail)] : groups(head!);
  return Buffer.concat(all.map((g) => Buffer.from([parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff])));
}

// ── X.509 ─────────────────────────────────────────────────────────────────────────────────────

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

const extension = (id: string, critical: boolean, value: Buffer) => sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));

function subjectAltNames(names: string[]): Buffer {
  // GeneralName: [2] dNSName (IA5String), [7] iPAddress (OCTET STRING), both implicit.
  return sequence(...names.map((name) => (isIP(name) ? tlv(0x87, ipBytes(name)) : tlv(0x82, Buffer.from(name, 'ascii')))));
}

export function generateSelfSignedCert(options: SelfSignedOptions): SelfSignedCert {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const now = options.now ?? new Date();
  // An hour back: a client whose clock lags a little must not see a certificate from the future.
  const notBefore = new Date(now.getTime() - 3_600_000);
  const notAfter = new Date(now.getTime() + options.validDays * 86_400_000);
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f || 0x01;
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const name = sequence(set(sequence(oid(OID.commonName), utf8String(options.commonName))));
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    algorithm,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(
      3,
      sequence(
        extension(OID.basicConstraints, true, sequence()),
        extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
        extension(OID.subjectAltName, false, subjectAltNames(options.altNames)),
      ),
    ),
  );
  const der = sequence(tbs, algorithm, bitString(sign('sha256', tbs, privateKey)));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`;
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, fingerprint: derFingerprint(der) };
}

/** SHA-256 of the DER, lowercase hex bytes joined with `:`, as nodes pin it. */
export function derFingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex').match(/../g)!.join(':');
}

/** The fingerprint of a PEM certificate's leaf (the first certificate in the file). */
export function certFingerprint(pem: string | Buffer): string {
  return derFingerprint(new X509Certificate(pem).raw);
}

/** Throws when the key does not belong to the certificate (a mismatched pair would fail every handshake). */
export function assertKeyMatches(certPem: string | Buffer, keyPem: string | Buffer): void {
  if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) throw new Error('the private key does not match the certificate');
}
