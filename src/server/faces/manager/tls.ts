/**
 * The manager listener's certificate: MANAGER_TLS_CERT_FILE / MANAGER_TLS_KEY_FILE, else a
 * self-signed one generated into the data dir on first start and reused after, so the fingerprint
 * nodes pin (`cert_fingerprint`, manager spec §1.1) survives restarts.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Config } from '../../config.ts';
import { assertKeyMatches, certFingerprint, generateSelfSignedCert } from '../../lib/self-signed-cert.ts';

export interface ManagerTls {
  cert: string;
  key: string;
  /** SHA-256 of the leaf DER as nodes pin it. */
  fingerprint: string;
  selfSigned: boolean;
  /** Set when this start generated the certificate. */
  generatedInto: string | null;
  /** Where the pair lives: an uploaded pair replaces these files (it serves after a restart). */
  certPath: string;
  keyPath: string;
}

const CERT_FILE = 'manager-cert.pem';
const KEY_FILE = 'manager-key.pem';
const VALID_DAYS = 3650;

export function loadManagerTls(config: Config): ManagerTls {
  if (config.managerTlsCertFile && config.managerTlsKeyFile) {
    const cert = readFileSync(config.managerTlsCertFile, 'utf8');
    const key = readFileSync(config.managerTlsKeyFile, 'utf8');
    assertKeyMatches(cert, key);
    return {
      cert,
      key,
      fingerprint: certFingerprint(cert),
      selfSigned: false,
      generatedInto: null,
      certPath: config.managerTlsCertFile,
      keyPath: config.managerTlsKeyFile,
    };
  }
  const certPath = path.join(config.dataDir, CERT_FILE);
  const keyPath = path.join(config.dataDir, KEY_FILE);
  if (existsSync(certPath) && existsSync(keyPath)) {
    const cert = readFileSync(certPath, 'utf8');
    const key = readFileSync(keyPath, 'utf8');
    assertKeyMatches(cert, key);
    return { cert, key, fingerprint: certFingerprint(cert), selfSigned: true, generatedInto: null, certPath, keyPath };
  }
  const altNames = [...new Set(['localhost', '127.0.0.1', hostname()].filter(Boolean))];
  const generated = generateSelfSignedCert({ commonName: hostname() || 'localhost', altNames, validDays: VALID_DAYS });
  mkdirSync(config.dataDir, { recursive: true });
  writeFileSync(keyPath, generated.keyPem, { mode: 0o600 });
  writeFileSync(certPath, generated.certPem, { mode: 0o644 });
  return { cert: generated.certPem, key: generated.keyPem, fingerprint: generated.fingerprint, selfSigned: true, generatedInto: certPath, certPath, keyPath };
}
