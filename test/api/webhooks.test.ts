/**
 * Webhooks API (edge-admin spec §3 rows 51–54, §4, §11.4): create/list/get/delete, every
 * validation rule, secrets that never come back and are never stored in plaintext, and the SSRF
 * guard — at create time for every denied range and IPv4/IPv6 spelling, and again at delivery time
 * (a name whose DNS answer changes after create, URLs created while private IPs were allowed).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { until } from '../helpers/processes.ts';
import { startServer, testEngines, type TestServer } from '../helpers/server.ts';
import { WebhookReceiver } from '../helpers/webhook-receiver.ts';
import { commitVerifiedEvent } from '../helpers/factories.ts';
import { type ResolvedAddress, systemResolver } from '../../src/server/modules/webhooks/ssrf.ts';

const SECRET = 'a-cryptographically-random-32-byte-secret';
/** A globally routable address (the documentation ranges are denied like every special-purpose one). */
const PUBLIC_IP = '93.184.215.14';

/** Fake DNS: each name answers from its list of answers, one per lookup, the last one repeating. */
class FakeDns {
  private readonly answers = new Map<string, string[][]>();
  private readonly calls = new Map<string, number>();

  set(host: string, ...answers: string[][]): void {
    this.answers.set(host, answers);
    this.calls.set(host, 0);
  }

  resolve = async (host: string): Promise<ResolvedAddress[]> => {
    const answers = this.answers.get(host);
    if (!answers) {
      if (host === 'localhost') return systemResolver(host);
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    }
    const n = this.calls.get(host)!;
    this.calls.set(host, n + 1);
    return answers[Math.min(n, answers.length - 1)]!.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

const body = (overrides: Record<string, unknown> = {}) => ({
  url: 'https://hooks.example.test/edge',
  secret: SECRET,
  subscribed_events: ['edge.node.registered'],
  ...overrides,
});

/** Literal spellings the guard must refuse, with the address each stands for. */
const DENIED_LITERALS: Array<[string, string]> = [
  ['127.0.0.1', '127.0.0.1'],
  ['127.1', '127.0.0.1'],
  ['2130706433', '127.0.0.1'],
  ['0177.0.0.1', '127.0.0.1'],
  ['0x7f.1', '127.0.0.1'],
  ['0x7f000001', '127.0.0.1'],
  ['0x7F.0.0.1', '127.0.0.1'],
  ['127.0.0.1.', '127.0.0.1'],
  ['169.254.169.254', '169.254.169.254'],
  ['10.0.0.1', '10.0.0.1'],
  ['10.255.255.255', '10.255.255.255'],
  ['172.16.0.1', '172.16.0.1'],
  ['172.31.255.254', '172.31.255.254'],
  ['192.168.1.1', '192.168.1.1'],
  ['0.0.0.0', '0.0.0.0'],
  ['0', '0.0.0.0'],
  ['224.0.0.1', '224.0.0.1'],
  ['239.255.255.250', '239.255.255.250'],
  ['100.100.100.200', '100.100.100.200'],
  // The other special-purpose ranges: shared address space (where cluster ranges live), "this
  // network", IETF assignments, documentation, benchmarking, reserved and broadcast.
  ['100.64.0.1', '100.64.0.1'],
  ['100.127.255.254', '100.127.255.254'],
  ['0.1.2.3', '0.1.2.3'],
  ['192.0.0.8', '192.0.0.8'],
  ['192.0.2.10', '192.0.2.10'],
  ['198.51.100.7', '198.51.100.7'],
  ['203.0.113.10', '203.0.113.10'],
  ['198.18.0.1', '198.18.0.1'],
  ['240.0.0.1', '240.0.0.1'],
  ['255.255.255.255', '255.255.255.255'],
  ['[2001:db8::1]', '2001:db8::1'],
  ['[64:ff9b:1::a00:1]', '64:ff9b:1::a00:1'],
  ['[::ffff:100.64.0.1]', '::ffff:6440:1'],
  ['[64:ff9b::100.64.0.1]', '64:ff9b::6440:1'],
  ['[::1]', '::1'],
  ['[::]', '::'],
  ['[::ffff:127.0.0.1]', '::ffff:7f00:1'],
  ['[::ffff:7f00:1]', '::ffff:7f00:1'],
  ['[0:0:0:0:0:ffff:169.254.169.254]', '::ffff:a9fe:a9fe'],
  ['[::ffff:10.0.0.1]', '::ffff:a00:1'],
  ['[fe80::1]', 'fe80::1'],
  ['[febf::1]', 'febf::1'],
  ['[fc00::1]', 'fc00::1'],
  ['[fd12:3456::1]', 'fd12:3456::1'],
  ['[ff02::1]', 'ff02::1'],
];

const ALLOWED_LITERALS = ['8.8.8.8', '172.32.0.1', '172.15.255.255', '100.128.0.1', '100.63.255.255', '11.0.0.1', '[2606:4700::1111]', '[::ffff:8.8.8.8]'];

const METADATA_HOSTS = ['metadata.google.internal', 'METADATA.GOOGLE.INTERNAL.', 'metadata.azure.internal', 'metadata.tencentyun.com'];

/** Every denied range, as the address a rebinding DNS name switches to after create. */
const DENIED_ANSWERS = [
  '127.0.0.1',
  '169.254.169.254',
  '10.1.2.3',
  '172.20.0.1',
  '192.168.0.10',
  '0.0.0.0',
  '224.0.0.251',
  '100.100.100.200',
  '::1',
  'fe80::1',
  'fc00::1',
  'fd00::2',
  'ff02::1',
  '::ffff:192.168.0.1',
];

for (const engine of testEngines()) {
  describe(`webhooks API [${engine}]`, () => {
    let server: TestServer;
    const dns = new FakeDns();
    const url = (p: string) => `/api/v1/webhooks${p}`;

    before(async () => {
      server = await startServer(engine);
      server.ctx.webhooks.ssrf.resolve = dns.resolve;
      dns.set('hooks.example.test', [PUBLIC_IP]);
    });
    after(() => server.stop());

    it('creates a webhook and returns it without secret or headers, with a location', async () => {
      const res = await server.api.post(
        url(''),
        body({ headers: { Authorization: 'Bearer xoxb-token' }, subscribed_events: ['edge.node.registered', 'edge.command_execution.completed'] }),
      );
      assert.equal(res.status, 201, res.text);
      const w = res.body.data;
      assert.deepEqual(Object.keys(w).sort(), ['id', 'inserted_at', 'subscribed_events', 'updated_at', 'url']);
      assert.equal(res.headers.get('location'), `/api/v1/webhooks/${w.id}`);
      assert.equal(w.url, 'https://hooks.example.test/edge');
      assert.deepEqual(w.subscribed_events, ['edge.node.registered', 'edge.command_execution.completed']);
      assert.match(w.inserted_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.match(w.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);

      const got = await server.api.get(url(`/${w.id}`));
      assert.equal(got.status, 200);
      assert.deepEqual(got.body.data, w);
      for (const text of [res.text, got.text, (await server.api.get(url(''))).text]) {
        assert.ok(!text.includes(SECRET) && !text.includes('xoxb-token') && !text.includes('"secret"') && !text.includes('"headers"'));
      }
    });

    it('answers schema violations with 400 and nothing is stored', async () => {
      const before = (await server.api.get(url(''))).body.meta.pagination.total_count;
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ secret: SECRET, subscribed_events: ['edge.node.registered'] }, 'url'],
        [body({ secret: undefined }), 'secret'],
        [body({ subscribed_events: undefined }), 'subscribed_events'],
        [body({ url: 'ftp://example.com/x' }), 'url'],
        [body({ url: '' }), 'url'],
        [body({ url: `https://example.com/${'a'.repeat(2048)}` }), 'url'],
        [body({ secret: 'x'.repeat(31) }), 'secret'],
        [body({ secret: 'x'.repeat(257) }), 'secret'],
        [body({ subscribed_events: [] }), 'subscribed_events'],
        [body({ subscribed_events: new Array(21).fill('edge.node.registered') }), 'subscribed_events'],
        [body({ subscribed_events: ['x'.repeat(257)] }), 'subscribed_events/0'],
        [body({ headers: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`x-h${i}`, 'v'])) }), 'headers'],
        [body({ headers: { 'x-big': 'v'.repeat(4097) } }), 'headers/x-big'],
        [body({ headers: { 'x-num': 5 } }), 'headers/x-num'],
        [body({ extra: true }), 'extra'],
      ];
      for (const [payload, field] of cases) {
        const res = await server.api.post(url(''), payload);
        assert.equal(res.status, 400, `${field}: ${res.text}`);
        assert.equal(res.body.error.code, 'bad_request');
        assert.ok(res.body.error.details[field], `${field} in ${JSON.stringify(res.body.error.details)}`);
      }
      assert.equal((await server.api.get(url(''))).body.meta.pagination.total_count, before);
    });

    it('refuses unknown event types, reserved or malformed headers and bad URLs with 422', async () => {
      const unknown = await server.api.post(url(''), body({ subscribed_events: ['edge.node.registered', 'edge.nope', 'edge.*'] }));
      assert.equal(unknown.status, 422);
      assert.deepEqual(unknown.body.error.details, { subscribed_events: ['unknown event type(s): edge.nope, edge.*'] });

      for (const name of ['content-type', 'Content-Type', 'X-Edge-Signature', 'content-length', 'Host', 'transfer-encoding']) {
        const res = await server.api.post(url(''), body({ headers: { [name]: 'x' } }));
        assert.equal(res.status, 422, name);
        assert.deepEqual(res.body.error.details, { headers: [`${name} cannot be set: the delivery sets it`] });
      }
      const badName = await server.api.post(url(''), body({ headers: { 'bad name': 'x' } }));
      assert.equal(badName.status, 422);
      const injected = await server.api.post(url(''), body({ headers: { 'x-a': 'ok\r\nx-injected: 1' } }));
      assert.equal(injected.status, 422);
      assert.deepEqual(injected.body.error.details, { headers: ['value of x-a contains characters not allowed in a header'] });
      const twice = await server.api.post(url(''), body({ headers: { 'X-A': '1', 'x-a': '2' } }));
      assert.equal(twice.status, 422);

      const userinfo = await server.api.post(url(''), body({ url: 'https://user:pass@hooks.example.test/x' }));
      assert.equal(userinfo.status, 422);
      assert.deepEqual(userinfo.body.error.details, { url: ['URL must not include userinfo (user:pass@host)'] });
      const emptyUser = await server.api.post(url(''), body({ url: 'https://@hooks.example.test/x' }));
      assert.deepEqual(emptyUser.body.error.details, { url: ['URL must not include userinfo (user:pass@host)'] });
      const fragment = await server.api.post(url(''), body({ url: 'https://hooks.example.test/x#frag' }));
      assert.deepEqual(fragment.body.error.details, { url: ['URL must not include a fragment'] });
      const spaces = await server.api.post(url(''), body({ url: 'https://hooks.example.test/a b' }));
      assert.equal(spaces.status, 422);
      const invalid = await server.api.post(url(''), body({ url: 'http://exa mple.com/' }));
      assert.equal(invalid.status, 422);
      const noHost = await server.api.post(url(''), body({ url: 'http:///x' }));
      assert.equal(noHost.status, 422, noHost.text);

      // Every error at once, one list per field.
      const all = await server.api.post(url(''), body({ url: 'https://u@127.0.0.1/', headers: { 'content-type': 'x' }, subscribed_events: ['nope'] }));
      assert.equal(all.status, 422);
      assert.deepEqual(Object.keys(all.body.error.details).sort(), ['headers', 'subscribed_events', 'url']);
    });

    it('refuses every denied range in every spelling, and metadata hostnames, at create', async () => {
      for (const [host, address] of DENIED_LITERALS) {
        for (const scheme of ['http', 'https']) {
          const res = await server.api.post(url(''), body({ url: `${scheme}://${host}/hook` }));
          assert.equal(res.status, 422, `${scheme}://${host}: ${res.text}`);
          const message = res.body.error.details.url[0] as string;
          assert.match(message, /^host \S+ resolves to \S+ which is in a denied range$/, host);
          assert.ok(message.endsWith(` resolves to ${address} which is in a denied range`), `${host}: ${message}`);
        }
      }
      for (const host of METADATA_HOSTS) {
        const res = await server.api.post(url(''), body({ url: `http://${host}/computeMetadata/v1/` }));
        assert.equal(res.status, 422, host);
        assert.deepEqual(res.body.error.details, { url: [`host ${host.toLowerCase().replace(/\.$/, '')} is on the SSRF deny list`] });
      }
      const withPort = await server.api.post(url(''), body({ url: 'http://0x7f.1:8080/x' }));
      assert.deepEqual(withPort.body.error.details, { url: ['host 127.0.0.1 resolves to 127.0.0.1 which is in a denied range'] });
    });

    it('refuses DNS names with any record in a denied range, and lets unresolvable and public ones pass', async () => {
      dns.set('internal.example.test', ['10.0.0.5']);
      dns.set('mixed.example.test', [PUBLIC_IP, '192.168.1.20']);
      dns.set('v6.example.test', ['2606:4700::1', 'fd00::7']);
      for (const [host, ip] of [
        ['internal.example.test', '10.0.0.5'],
        ['mixed.example.test', '192.168.1.20'],
        ['v6.example.test', 'fd00::7'],
        ['localhost', null],
      ] as const) {
        const res = await server.api.post(url(''), body({ url: `https://${host}/hook` }));
        assert.equal(res.status, 422, `${host}: ${res.text}`);
        const message = res.body.error.details.url[0] as string;
        assert.match(message, new RegExp(`^host ${host} resolves to .+ which is in a denied range$`));
        if (ip) assert.ok(message.includes(` ${ip} `), message);
      }
      const unresolvable = await server.api.post(url(''), body({ url: 'https://does-not-exist.example.test/hook' }));
      assert.equal(unresolvable.status, 201, unresolvable.text);
      for (const host of ALLOWED_LITERALS) {
        const res = await server.api.post(url(''), body({ url: `http://${host}/hook` }));
        assert.equal(res.status, 201, `${host}: ${res.text}`);
      }
    });

    it('lists with url and event_type filters applied in the query, so total_count and pages agree', async () => {
      const tag = randomBytes(3).toString('hex');
      const created: Array<{ id: string; events: string[] }> = [];
      for (let i = 0; i < 7; i++) {
        const events = i % 2 === 0 ? ['edge.ssh_username.verified', 'edge.node.status_changed'] : ['edge.node.status_changed'];
        const res = await server.api.post(url(''), body({ url: `https://hooks.example.test/${tag}/${i}`, subscribed_events: events }));
        assert.equal(res.status, 201);
        created.push({ id: res.body.data.id, events });
      }
      const want = created
        .filter((c) => c.events.includes('edge.ssh_username.verified'))
        .map((c) => c.id)
        .sort();
      const seen: string[] = [];
      for (let page = 1; ; page++) {
        const res = await server.api.get(url(`?event_type=edge.ssh_username.verified&page_size=3&page=${page}`));
        assert.equal(res.status, 200);
        assert.equal(res.body.meta.pagination.total_count, want.length);
        assert.equal(res.body.meta.pagination.total_pages, Math.ceil(want.length / 3));
        seen.push(...res.body.data.map((w: any) => w.id));
        for (const w of res.body.data) assert.ok(w.subscribed_events.includes('edge.ssh_username.verified'));
        if (!res.body.meta.pagination.has_next) break;
      }
      assert.deepEqual(seen.sort(), want);

      const none = await server.api.get(url('?event_type=edge.nope'));
      assert.equal(none.body.meta.pagination.total_count, 0);
      assert.deepEqual(none.body.data, []);

      const byUrl = await server.api.get(url(`?url=*/${tag}/*&order_by=url&order_directions=desc&page_size=100`));
      assert.equal(byUrl.body.meta.pagination.total_count, 7);
      assert.deepEqual(
        byUrl.body.data.map((w: any) => w.url),
        created.map((_, i) => `https://hooks.example.test/${tag}/${i}`).reverse(),
      );
      const exact = await server.api.get(url(`?url=https://hooks.example.test/${tag}/3`));
      assert.deepEqual(
        exact.body.data.map((w: any) => w.id),
        [created[3]!.id],
      );
      const combined = await server.api.get(url(`?url=*/${tag}/*&event_type=edge.ssh_username.verified`));
      assert.equal(combined.body.meta.pagination.total_count, 4);

      assert.equal((await server.api.get(url('?unknown=1'))).status, 400);
      assert.equal((await server.api.get(url('?page_size=101'))).status, 400);
    });

    it('gets and deletes by id: 404 for unknown, 400 for malformed ids', async () => {
      const res = await server.api.post(url(''), body());
      const id = res.body.data.id;
      assert.equal((await server.api.get(url('/not-a-uuid'))).status, 400);
      assert.equal((await server.api.get(url('/018f3c1e-0000-7000-8000-000000000000'))).status, 404);
      const del = await server.api.delete(url(`/${id}`));
      assert.equal(del.status, 204);
      assert.equal(del.text, '');
      assert.equal((await server.api.get(url(`/${id}`))).status, 404);
      const again = await server.api.delete(url(`/${id}`));
      assert.equal(again.status, 404);
      assert.equal(again.body.error.code, 'not_found');
      assert.equal((await server.api.withToken('wrong').get(url(''))).status, 401);
      assert.equal((await server.api.request('PATCH', url(`/${id}`), { body: { url: 'https://x.example.test/' } })).status, 404);
    });

    it('never stores the secret or a header value in plaintext', async () => {
      const secret = `sekrit-${randomBytes(16).toString('hex')}`;
      const headerValue = `hv-${randomBytes(16).toString('hex')}`;
      const res = await server.api.post(url(''), body({ secret, headers: { 'X-Api-Key': headerValue } }));
      assert.equal(res.status, 201);
      const row = await server.ctx.database.db.selectFrom('webhooks').selectAll().where('id', '=', res.body.data.id).executeTakeFirstOrThrow();
      assert.match(row.secret_enc, /^v1\.[0-9a-f]{8}\./);
      assert.match(row.headers_enc, /^v1\.[0-9a-f]{8}\./);
      // Sealed under the data key, and each seal is fresh (random IV).
      assert.equal(server.ctx.secrets.open(row.secret_enc), secret);
      assert.deepEqual(JSON.parse(server.ctx.secrets.open(row.headers_enc)), { 'X-Api-Key': headerValue });

      const needles = [secret, headerValue, Buffer.from(secret).toString('base64'), Buffer.from(headerValue).toString('hex')];
      if (engine === 'sqlite') {
        const files = readdirSync(server.dataDir).filter((f) => f.startsWith('test.db'));
        assert.ok(files.includes('test.db'));
        for (const file of files) {
          const bytes = readFileSync(path.join(server.dataDir, file));
          for (const needle of needles) assert.equal(bytes.indexOf(needle), -1, `${needle} found in ${file}`);
        }
      }
      // Every row of every table, both engines.
      const tables =
        engine === 'sqlite'
          ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(server.ctx.database.db)).rows.map((r) => r.name)
          : (
              await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = 'public'`.execute(
                server.ctx.database.db,
              )
            ).rows.map((r) => r.name);
      assert.ok(tables.includes('webhooks'));
      for (const table of tables) {
        const rows = (await sql`select * from ${sql.table(table)}`.execute(server.ctx.database.db)).rows;
        const text = JSON.stringify(rows);
        for (const needle of needles) assert.ok(!text.includes(needle), `${needle} found in table ${table}`);
      }
    });

    describe('SSRF at delivery time', () => {
      let receiver: WebhookReceiver;
      const verifyBogusKey = () => commitVerifiedEvent(server.api);
      const deliveryJobs = (webhookId: string) => server.ctx.database.db.selectFrom('jobs').selectAll().where('dedupe_key', 'like', `${webhookId}:%`).execute();

      before(async () => {
        receiver = await new WebhookReceiver(SECRET).start();
      });
      after(() => receiver.stop());

      /** Creates webhooks while private addresses are allowed, then judges their deliveries with the guard on. */
      async function createAllowed(urls: string[]): Promise<string[]> {
        server.ctx.webhooks.ssrf.allowPrivateIps = true;
        try {
          const ids: string[] = [];
          for (const u of urls) {
            const res = await server.api.post(url(''), body({ url: u, subscribed_events: ['edge.enrollment_key.verified'] }));
            assert.equal(res.status, 201, `${u}: ${res.text}`);
            ids.push(res.body.data.id);
          }
          return ids;
        } finally {
          server.ctx.webhooks.ssrf.allowPrivateIps = false;
        }
      }

      async function settle(ids: string[]): Promise<Array<{ state: string; last_error: string | null }>> {
        await server.ctx.relay.flush();
        return until(
          async () => {
            const jobs = (await Promise.all(ids.map(deliveryJobs))).flat();
            return jobs.length === ids.length && jobs.every((j) => j.state === 'dead') && jobs;
          },
          'deliveries refused',
          20_000,
        );
      }

      it('refuses loopback spellings and metadata names that were created while private IPs were allowed', async () => {
        const p = receiver.port;
        const urls = [
          `http://127.0.0.1:${p}/a`,
          `http://2130706433:${p}/b`,
          `http://0177.0.0.1:${p}/c`,
          `http://0x7f.1:${p}/d`,
          `http://[::ffff:127.0.0.1]:${p}/e`,
          `http://127.1:${p}/f`,
          `http://localhost:${p}/g`,
          `http://[::1]:${p}/h`,
          `http://metadata.google.internal:${p}/i`,
        ];
        const before = (await server.api.get('/api/v1/admins/me/metrics')).body.data.webhook;
        const ids = await createAllowed(urls);
        await verifyBogusKey();
        const jobs = await settle(ids);
        for (const job of jobs) assert.match(job.last_error ?? '', /^refused: host .* (is on the SSRF deny list|which is in a denied range)$/);
        assert.equal(receiver.requests.length, 0, 'the receiver on loopback was reached');
        const afterMetrics = (await server.api.get('/api/v1/admins/me/metrics')).body.data.webhook;
        assert.equal(afterMetrics.deliveries_terminal_total - before.deliveries_terminal_total, urls.length);
        assert.equal(afterMetrics.deliveries_ok_total, before.deliveries_ok_total);
        for (const id of ids) assert.equal((await server.api.delete(url(`/${id}`))).status, 204);
      });

      it('catches a name whose DNS answer moves into any denied range after create (rebinding)', async () => {
        const hosts = DENIED_ANSWERS.map((ip, i) => {
          const host = `rebind-${i}.example.test`;
          dns.set(host, [PUBLIC_IP], [ip]);
          return host;
        });
        const ids: string[] = [];
        for (const host of hosts) {
          const res = await server.api.post(
            url(''),
            body({ url: `http://${host}:${receiver.port}/hook`, subscribed_events: ['edge.enrollment_key.verified'] }),
          );
          assert.equal(res.status, 201, `${host}: ${res.text}`);
          ids.push(res.body.data.id);
        }
        await verifyBogusKey();
        const jobs = await settle(ids);
        const errors = jobs.map((j) => j.last_error).sort();
        const expected = hosts.map((h, i) => `refused: host ${h} resolves to ${DENIED_ANSWERS[i]} which is in a denied range`).sort();
        assert.deepEqual(errors, expected);
        assert.equal(receiver.requests.length, 0);
        for (const id of ids) await server.api.delete(url(`/${id}`));
      });

      it('delivers to the address it checked: a second lookup would have gone elsewhere', async () => {
        // Allowed, so the loopback receiver is reachable; the name answers loopback once, then a
        // black-hole address. Only a client that reuses the checked answer reaches the receiver.
        server.ctx.webhooks.ssrf.allowPrivateIps = true;
        try {
          const res = await server.api.post(
            url(''),
            body({ url: `http://pinned.example.test:${receiver.port}/pinned`, subscribed_events: ['edge.enrollment_key.verified'] }),
          );
          assert.equal(res.status, 201);
          dns.set('pinned.example.test', ['127.0.0.1'], ['192.0.2.1']);
          await verifyBogusKey();
          await server.ctx.relay.flush();
          const got = await until(async () => receiver.requests.find((r) => r.path === '/pinned'), 'delivery to the pinned address');
          assert.equal(got.headers.host, `pinned.example.test:${receiver.port}`);
          assert.ok(got.signatureValid);
          await server.api.delete(url(`/${res.body.data.id}`));
        } finally {
          server.ctx.webhooks.ssrf.allowPrivateIps = false;
        }
      });
    });
  });
}
