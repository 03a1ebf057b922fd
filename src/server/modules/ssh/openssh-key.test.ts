import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { SSH_PUBLIC_KEY_PATTERN } from '../../../contract/admin/ssh.ts';
import { openSshPublicKey } from '../../../agent/edge/ssh-keys.ts';
import { keyDataOf, parseOpenSshPublicKey, PublicKeyError } from './openssh-key.ts';

/** The pattern exactly as the contract writes it. */
const CONTRACT = /^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa)\s+([A-Za-z0-9+/]+=*)\s*(.*)$/u;
const OURS = new RegExp(SSH_PUBLIC_KEY_PATTERN, 'u');
/** The contract's pattern with PCRE's `$`, which also matches before a final newline. */
const contractPcre = (s: string) => CONTRACT.exec(s) ?? (s.endsWith('\n') ? CONTRACT.exec(s.slice(0, -1)) : null);

describe('OpenSSH public keys', () => {
  it('our linear pattern accepts what the contract pattern accepts, with the same base64 group', () => {
    const alphabet = ['A', 'z', '+', '/', '=', ' ', '\t', '\n', '\r', '\u2028', '\u00a0', 'x', '!', '@'];
    const prefixes = ['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp384', 'ssh-dss', 'ssh-ed25519 ', 'ssh-rsa\n'];
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 100_000; i++) {
      let s = prefixes[random(prefixes.length)]!;
      for (let j = random(10); j > 0; j--) s += alphabet[random(alphabet.length)];
      const expected = contractPcre(s);
      const actual = OURS.exec(s);
      assert.equal(Boolean(actual), Boolean(expected), JSON.stringify(s));
      if (actual && expected) assert.equal(actual[2], expected[2], JSON.stringify(s));
    }
  });

  it('checks a megabyte-long hostile line in linear time', () => {
    for (const tail of ['\nx\ny', ' x\n y', `${' '.repeat(100_000)}x\ny`, `${'\n'.repeat(100_000)}x\ny`]) {
      const started = performance.now();
      assert.equal(OURS.test(`ssh-rsa ${'A'.repeat(1_000_000)}${tail}`), false);
      assert.ok(performance.now() - started < 500, `took ${performance.now() - started} ms`);
    }
  });

  it('parses every supported algorithm and keeps `<algorithm> <base64>` as key data', () => {
    const keys = [
      generateKeyPairSync('ed25519').publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
      generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
    ];
    for (const key of keys) {
      const text = openSshPublicKey(key, 'a comment with spaces');
      const parsed = parseOpenSshPublicKey(`${text}\n`);
      const [algorithm, base64] = text.split(' ');
      assert.deepEqual(parsed, { algorithm, base64, keyData: `${algorithm} ${base64}` });
      assert.equal(keyDataOf(`\t${algorithm}   ${base64} other`), parsed.keyData);
    }
  });

  it('names what is wrong', () => {
    const ed = openSshPublicKey(generateKeyPairSync('ed25519').publicKey);
    const cases: Array<[string, string]> = [
      ['ssh-dss AAAA', 'invalid SSH key format'],
      ['ssh-ed25519 AAAAC', 'invalid base64 key data'],
      [ed.replace('ssh-ed25519', 'ecdsa-sha2-nistp256'), 'key data is a ssh-ed25519 key, not ecdsa-sha2-nistp256'],
      ['ssh-ed25519 AAAA', 'invalid ssh-ed25519 key data'],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseOpenSshPublicKey(text),
        (error: unknown) => error instanceof PublicKeyError && error.message === message,
        text,
      );
    }
    assert.equal(keyDataOf('just-one-field'), null);
  });
});
