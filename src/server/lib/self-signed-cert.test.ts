import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { describe, it } from 'node:test';
import { assertKeyMatches, certFingerprint, generateSelfSignedCert } from './self-signed-cert.ts';

describe('self-signed certificate', () => {
  const now = new Date('2030-06-01T12:00:00Z');
  const cert = generateSelfSignedCert({ commonName: 'nodeplane-manager', altNames: ['localhost', '127.0.0.1', '::1', 'box.example'], validDays: 3650, now });

  it('parses, verifies with its own key and names every host', () => {
    const x509 = new X509Certificate(cert.certPem);
    assert.equal(x509.verify(x509.publicKey), true);
    assert.equal(x509.subject, 'CN=nodeplane-manager');
    assert.equal(x509.issuer, x509.subject);
    assert.equal(x509.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:box.example');
    assert.equal(x509.checkHost('localhost'), 'localhost');
    assert.equal(x509.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(new Date(x509.validFrom).toISOString(), '2030-06-01T11:00:00.000Z');
    assert.equal(new Date(x509.validTo).toISOString(), '2040-05-29T12:00:00.000Z');
    assertKeyMatches(cert.certPem, cert.keyPem);
  });

  it('fingerprints the leaf DER as lowercase hex pairs joined with colons', () => {
    assert.match(cert.fingerprint, /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
    assert.equal(cert.fingerprint, new X509Certificate(cert.certPem).fingerprint256.toLowerCase());
    assert.equal(certFingerprint(cert.certPem), cert.fingerprint);
  });

  it('serves TLS to a client that trusts only it, and pins to its fingerprint', async () => {
    const live = generateSelfSignedCert({ commonName: 'nodeplane-manager', altNames: ['localhost', '127.0.0.1'], validDays: 30 });
    const server = tls.createServer({ cert: live.certPem, key: live.keyPem }, (socket) => socket.end('hello'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const greeting = await new Promise<string>((resolve, reject) => {
        const socket = tls.connect({ port, host: '127.0.0.1', ca: live.certPem }, () => {
          assert.equal(socket.authorized, true);
          assert.equal(socket.getPeerCertificate().fingerprint256.toLowerCase(), live.fingerprint);
        });
        let text = '';
        socket.on('data', (chunk) => (text += chunk));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      assert.equal(greeting, 'hello');
      await assert.rejects(
        new Promise((resolve, reject) => tls.connect({ port, host: '127.0.0.1' }, () => resolve(null)).on('error', reject)),
        /self[- ]signed/i,
      );
    } finally {
      server.close();
    }
  });

  it('refuses a key that belongs to another certificate', () => {
    const other = generateSelfSignedCert({ commonName: 'x', altNames: ['localhost'], validDays: 1 });
    assert.throws(() => assertKeyMatches(cert.certPem, other.keyPem), /does not match/);
  });
});
