/**
 * The manager listener's certificate (manager spec §5.5): what it serves, parsed; and an uploaded
 * pair, checked (both parse, the key is the certificate's, it is valid now) before it replaces the
 * listener's files. The listener keeps serving the old pair until a restart, as the manager's does.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import type { ManagerTlsInfo, ManagerTlsUpload, ManagerTlsUploadResult } from '../../../contract/manager/operators.ts';
import { assertRole } from '../../access.ts';
import type { Principal } from '../../principal.ts';

export interface ManagerTlsFiles {
  /** The certificate the listener serves (PEM). */
  cert: string;
  certPath: string;
  keyPath: string;
}

export class ManagerTlsService {
  constructor(private readonly files: ManagerTlsFiles) {}

  info(principal: Principal): ManagerTlsInfo {
    assertRole(principal, 'admin');
    const cert = new X509Certificate(this.files.cert);
    return {
      cert_path: this.files.certPath,
      key_path: this.files.keyPath,
      is_self_signed: cert.issuer === cert.subject,
      subject: cert.subject,
      issuer: cert.issuer,
      not_after: new Date(cert.validTo).toISOString(),
    };
  }

  upload(principal: Principal, input: ManagerTlsUpload): ManagerTlsUploadResult {
    assertRole(principal, 'admin');
    const problem = checkPair(input.cert_pem, input.key_pem);
    if (problem) return { success: false, error: problem };
    // Each file is replaced whole (write aside, then rename), so a crash never leaves half a PEM.
    replaceFile(this.files.keyPath, input.key_pem, 0o600);
    replaceFile(this.files.certPath, input.cert_pem, 0o644);
    return { success: true, message: 'Certificate and key saved. Restart the server to serve them.' };
  }
}

function checkPair(certPem: string, keyPem: string): string | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return 'The certificate is not a valid PEM certificate';
  }
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return 'The private key is not a valid PEM private key';
  }
  if (!matches) return 'The private key does not match the certificate';
  const now = Date.now();
  if (new Date(cert.validTo).getTime() <= now) return 'The certificate has expired';
  if (new Date(cert.validFrom).getTime() > now) return 'The certificate is not valid yet';
  return null;
}

function replaceFile(file: string, content: string, mode: number): void {
  const aside = `${file}.upload`;
  writeFileSync(aside, content, { mode });
  renameSync(aside, file);
}
