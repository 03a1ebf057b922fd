import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIPv4, ipLiteral, isDeniedAddress, parseIPv4, parseIPv6, SsrfGuard, SsrfRefusedError } from './ssrf.ts';

const v4 = (host: string) => {
  const n = parseIPv4(host);
  return n === null ? null : formatIPv4(n);
};

describe('SSRF address parsing', () => {
  it('reads every IPv4 spelling the URL parser and inet_aton accept', () => {
    for (const host of [
      '127.0.0.1',
      '127.1',
      '127.0.1',
      '2130706433',
      '0x7f000001',
      '0X7F000001',
      '0177.0.0.1',
      '0177.1',
      '0x7f.1',
      '0x7f.0.0.0x1',
      '017700000001',
      '127.0.0.1.',
    ]) {
      assert.equal(v4(host), '127.0.0.1', host);
    }
    assert.equal(v4('0'), '0.0.0.0');
    assert.equal(v4('0x'), '0.0.0.0');
    assert.equal(v4('1.2.3.4'), '1.2.3.4');
    assert.equal(v4('4294967295'), '255.255.255.255');
    for (const host of ['4294967296', '256.1.1.1', '1.2.3.256', '1.2.65536', '08.1.1.1', '1.2.3.4.5', 'example.com', '1.2.3.x', '', '..', '1..2', '0x1g']) {
      assert.equal(v4(host), null, host);
    }
  });

  it('reads IPv6 with embedded IPv4 tails, brackets and zone ids', () => {
    assert.deepEqual(parseIPv6('::ffff:127.0.0.1'), [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]);
    assert.deepEqual(parseIPv6('[::1]'), [0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(parseIPv6('fe80::1%eth0'), [0xfe80, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(parseIPv6('1:2:3:4:5:6:7:8'), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(parseIPv6('1:2:3'), null);
    assert.equal(parseIPv6('127.0.0.1'), null);
  });

  it('denies exactly the §11.4 ranges, judging IPv6 forms that embed IPv4 by that address', () => {
    const denied = [
      '127.0.0.1',
      '127.255.255.255',
      '169.254.0.1',
      '10.0.0.0',
      '172.16.0.0',
      '172.31.255.255',
      '192.168.255.255',
      '0.0.0.0',
      '224.0.0.0',
      '239.255.255.255',
      '100.100.100.200',
      '::1',
      '::',
      'fe80::1',
      'febf:ffff::1',
      'fc00::',
      'fdff::1',
      'ff00::',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:a9fe:a9fe',
      '::ffff:0:10.0.0.1',
      '::127.0.0.1',
      '64:ff9b::10.1.1.1',
      '2002:c0a8:0101::1',
    ];
    const allowed = [
      '126.255.255.255',
      '128.0.0.0',
      '169.253.255.255',
      '169.255.0.0',
      '11.0.0.0',
      '172.15.255.255',
      '172.32.0.0',
      '192.167.255.255',
      '192.169.0.0',
      '1.0.0.0',
      '223.255.255.255',
      '100.63.255.255',
      '100.128.0.0',
      '8.8.8.8',
      '2606:4700::1111',
      'fec0::1',
      'fe7f::1',
      '::ffff:8.8.8.8',
      '64:ff9b::8.8.8.8',
      '2002:0808:0808::1',
    ];
    for (const a of denied) assert.equal(isDeniedAddress(a), true, a);
    for (const a of allowed) assert.equal(isDeniedAddress(a), false, a);
    assert.equal(isDeniedAddress('not-an-address'), true, 'anything unparseable is refused');
  });

  it('denies the other special-purpose ranges, edge to edge, in their IPv4-mapped and NAT64 forms too', () => {
    // Each range's first and last address, then the neighbours just outside.
    const denied = [
      '100.64.0.0',
      '100.127.255.255',
      '0.0.0.0',
      '0.255.255.255',
      '192.0.0.0',
      '192.0.0.255',
      '192.0.2.0',
      '192.0.2.255',
      '198.51.100.0',
      '198.51.100.255',
      '203.0.113.0',
      '203.0.113.255',
      '198.18.0.0',
      '198.19.255.255',
      '240.0.0.0',
      '255.255.255.255',
    ];
    const neighbours = [
      '100.63.255.255',
      '100.128.0.0',
      '1.0.0.0',
      '191.255.255.255',
      '192.0.1.0',
      '192.0.3.0',
      '198.51.99.255',
      '198.51.101.0',
      '203.0.112.255',
      '203.0.114.0',
      '198.17.255.255',
      '198.20.0.0',
      '223.255.255.255',
    ];
    for (const a of denied) {
      assert.equal(isDeniedAddress(a), true, a);
      for (const embedded of [`::ffff:${a}`, `64:ff9b::${a}`, `::ffff:0:${a}`]) assert.equal(isDeniedAddress(embedded), true, embedded);
    }
    for (const a of neighbours) assert.equal(isDeniedAddress(a), false, a);
    assert.equal(isDeniedAddress('::2'), true, 'IPv4-compatible ::0.0.0.2 is "this network"');
    assert.equal(isDeniedAddress('255.255.255.255'), true, 'broadcast');
    for (const a of ['2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', '64:ff9b:1::', '64:ff9b:1:ffff::1', '64:ff9b:1::8.8.8.8', '2001::1']) {
      assert.equal(isDeniedAddress(a), true, a);
    }
    for (const a of ['2001:db9::1', '2001:db7::1', '64:ff9b:2::1', '2001:4860::8888']) assert.equal(isDeniedAddress(a), false, a);
    // Every spelling of the shared address space reaches the same check.
    for (const host of ['100.64.0.1', '0x64.0x40.0.1', '1681915905', '0144.0100.0.1', '100.4194305'])
      assert.equal(isDeniedAddress(ipLiteral(host)!.address), true, host);
  });

  it('tells IP literals from names', () => {
    assert.deepEqual(ipLiteral('0x7f.1'), { address: '127.0.0.1', family: 4 });
    assert.deepEqual(ipLiteral('::ffff:7f00:1'), { address: '::ffff:7f00:1', family: 6 });
    assert.equal(ipLiteral('hooks.example.com'), null);
  });
});

describe('SsrfGuard', () => {
  const guard = (answers: Record<string, string[]>) =>
    new SsrfGuard(false, async (host) => {
      const list = answers[host];
      if (!list) throw new Error('ENOTFOUND');
      return list.map((address) => ({ address, family: address.includes(':') ? (6 as const) : (4 as const) }));
    });

  it('pins the checked address and refuses names with any denied record', async () => {
    const g = guard({ 'ok.test': ['93.184.215.14', '2606:4700::1'], 'bad.test': ['93.184.215.14', '10.0.0.1'] });
    assert.deepEqual(await g.pin(new URL('https://ok.test/x')), { address: '93.184.215.14', family: 4 });
    await assert.rejects(g.pin(new URL('https://bad.test/x')), SsrfRefusedError);
    await assert.rejects(g.pin(new URL('http://0x7f.1/')), SsrfRefusedError);
    await assert.rejects(g.pin(new URL('http://metadata.google.internal./')), SsrfRefusedError);
    await assert.rejects(g.pin(new URL('https://missing.test/')), (e: unknown) => !(e instanceof SsrfRefusedError));
    assert.equal(await g.refusal(new URL('https://missing.test/')), null, 'unresolvable names pass at create');
  });

  it('lets everything through when private addresses are allowed', async () => {
    const g = new SsrfGuard(true, async () => [{ address: '127.0.0.1', family: 4 }]);
    assert.equal(await g.refusal(new URL('http://127.0.0.1/')), null);
    assert.equal(await g.refusal(new URL('http://metadata.google.internal/')), null);
    assert.deepEqual(await g.pin(new URL('http://local.test/')), { address: '127.0.0.1', family: 4 });
  });
});
