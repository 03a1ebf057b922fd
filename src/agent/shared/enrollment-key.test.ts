import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEnrollmentKey, EnrollmentKeyError } from './enrollment-key.ts';

const blob = (payload: unknown) => Buffer.from(JSON.stringify(payload)).toString('base64');

describe('enrollment key blob', () => {
  it('yields the admin_urls of a key shaped as the server issues it', () => {
    // Same construction as spec §6.3: padded base64 of {admin_urls, nonce}.
    const nonce = Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '');
    const key = blob({ admin_urls: ['https://admin.example.com/', 'http://10.0.0.22:44000'], nonce });
    assert.match(key, /=$/, 'fixture should exercise padding');
    assert.deepEqual(decodeEnrollmentKey(`  ${key}\n`), {
      adminUrls: ['https://admin.example.com', 'http://10.0.0.22:44000'],
      nonce,
    });
  });

  it('accepts the URL-safe alphabet a copy-paste tool may have produced', () => {
    const key = blob({ admin_urls: ['http://a.example?x=>>>'], nonce: 'n' });
    const urlSafe = key.replace(/\+/g, '-').replace(/\//g, '_');
    assert.notEqual(urlSafe, key, 'fixture should contain + or /');
    assert.deepEqual(decodeEnrollmentKey(urlSafe).adminUrls, ['http://a.example?x=>>>']);
  });

  it('rejects blobs that are not base64 JSON with an admin_urls list', () => {
    for (const bad of [
      '',
      'not base64!',
      Buffer.from('plain text').toString('base64'),
      blob([1, 2]),
      blob({ nonce: 'x' }),
      blob({ admin_urls: 'http://x' }),
      blob({ admin_urls: ['ftp://x'] }),
    ]) {
      assert.throws(() => decodeEnrollmentKey(bad), EnrollmentKeyError, `should reject ${JSON.stringify(bad)}`);
    }
  });
});
