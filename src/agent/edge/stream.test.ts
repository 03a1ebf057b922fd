import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import pino from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { parseServerFrame, StreamClient, type StreamClientOptions, streamUrl } from './stream.ts';

const silent = pino({ level: 'silent' });
const NODE_ID = '5d1b6f0e-3f7a-4c7e-9a44-0b1c2d3e4f50';

/** A stand-in for the control plane's stream endpoint, speaking the decided wire format. */
class FakeStreamServer {
  readonly http: Server;
  readonly wss: WebSocketServer;
  readonly tokens = new Set<string>(['good']);
  readonly connections: { ws: WebSocket; authorization: string | undefined }[] = [];
  readonly received: unknown[] = [];
  upgrades = 0;
  refused = 0;
  onConnection: (ws: WebSocket) => void = (ws) => ws.send(JSON.stringify({ type: 'welcome', node_id: NODE_ID, health_interval_ms: 30000 }));

  constructor(autoPong = true) {
    this.http = createServer((_req, res) => res.writeHead(404).end());
    this.wss = new WebSocketServer({ noServer: true, autoPong });
    this.http.on('upgrade', (req: IncomingMessage, socket, head) => {
      this.upgrades++;
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (req.url !== '/api/v1/agents/stream' || !token || !this.tokens.has(token)) {
        this.refused++;
        socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.connections.push({ ws, authorization: req.headers.authorization });
        ws.on('message', (data) => this.received.push(JSON.parse(data.toString())));
        this.onConnection(ws);
      });
    });
  }

  async listen(port = 0): Promise<number> {
    this.http.listen(port, '127.0.0.1');
    await once(this.http, 'listening');
    return (this.http.address() as AddressInfo).port;
  }

  /** Like a control-plane process dying: every socket drops without a close frame. */
  async crash(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  get last(): WebSocket {
    return this.connections.at(-1)!.ws;
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(options: Partial<StreamClientOptions> = {}, autoPong = true) {
  const server = new FakeStreamServer(autoPong);
  const port = await server.listen();
  let token = 'good';
  const client = new StreamClient({
    baseUrl: `http://127.0.0.1:${port}`,
    token: () => token,
    logger: silent,
    backoff: { initialMs: 20, maxMs: 100 },
    ...options,
  });
  cleanups.push(
    () => client.stop(),
    () => server.crash().catch(() => {}),
  );
  return { server, client, port, setToken: (t: string) => (token = t) };
}

/** Resolves on the next `event`; the deadline turns a hang into a readable failure. */
function next<T extends unknown[]>(emitter: StreamClient, event: string, ms = 3000): Promise<T> {
  return once(emitter, event, { signal: AbortSignal.timeout(ms) }) as Promise<T>;
}

async function waitFor(condition: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('stream client', () => {
  it('derives the ws(s) URL from the control-plane base URL', () => {
    assert.equal(streamUrl('http://cp:8080/'), 'ws://cp:8080/api/v1/agents/stream');
    assert.equal(streamUrl('https://cp.example/edge'), 'wss://cp.example/edge/api/v1/agents/stream');
  });

  it('authenticates with the bearer token and delivers welcome and execution frames to handlers', async () => {
    const { server, client } = await setup();
    const execution = {
      id: 'e1',
      command_id: 'c1',
      command_text: 'uptime',
      timeout: 5000,
      expired_at: null,
      status: 'pending',
      inserted_at: '2026-01-01T00:00:00Z',
    };
    server.onConnection = (ws) => {
      ws.send(JSON.stringify({ type: 'welcome', node_id: NODE_ID, health_interval_ms: 15000 }));
      ws.send(JSON.stringify({ type: 'execution', execution }));
      ws.send(JSON.stringify({ type: 'cancel_execution', id: 'e1' }));
      ws.send(JSON.stringify({ type: 'self_update', self_update_request_id: 'r1' }));
    };
    const welcome = next<[unknown]>(client, 'welcome');
    const exec = next<[unknown]>(client, 'execution');
    const cancel = next<[unknown]>(client, 'cancel_execution');
    const update = next<[unknown]>(client, 'self_update');
    client.start();
    assert.deepEqual((await welcome)[0], { type: 'welcome', node_id: NODE_ID, health_interval_ms: 15000 });
    assert.deepEqual((await exec)[0], { type: 'execution', execution });
    assert.deepEqual((await cancel)[0], { type: 'cancel_execution', id: 'e1' });
    assert.deepEqual((await update)[0], { type: 'self_update', self_update_request_id: 'r1' });
    assert.equal(server.connections[0]!.authorization, 'Bearer good');
    assert.ok(client.isOpen);
  });

  it('reconnects after the server drops the connection and keeps delivering frames', async () => {
    const { server, client } = await setup();
    const welcomes: unknown[] = [];
    client.on('welcome', (f) => welcomes.push(f));
    client.start();
    await waitFor(() => welcomes.length === 1);
    server.last.terminate();
    await waitFor(() => welcomes.length === 2);
    server.last.close(1012, 'service restart');
    await waitFor(() => welcomes.length === 3);
    assert.equal(server.connections.length, 3);
    server.last.send(JSON.stringify({ type: 'cancel_execution', id: 'after-reconnect' }));
    assert.deepEqual((await next<[unknown]>(client, 'cancel_execution'))[0], { type: 'cancel_execution', id: 'after-reconnect' });
  });

  it('comes back by itself after the control plane restarts on the same port', async () => {
    const { server, client, port } = await setup();
    client.start();
    await next(client, 'welcome');
    await server.crash();
    // Down for a while: several refused attempts must not stop the client.
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(client.isOpen, false);
    const restarted = new FakeStreamServer();
    cleanups.push(() => restarted.crash().catch(() => {}));
    const welcome = next(client, 'welcome');
    await restarted.listen(port);
    await welcome;
    assert.equal(restarted.connections.length, 1);
  });

  it('sends agent frames as JSON text while open, and reports false while not', async () => {
    const { server, client } = await setup();
    assert.equal(client.send({ type: 'health', status: 'healthy' }), false);
    client.start();
    await next(client, 'welcome');
    assert.equal(client.send({ type: 'health', status: 'unhealthy' }), true);
    await waitFor(() => server.received.length === 1);
    assert.deepEqual(server.received, [{ type: 'health', status: 'unhealthy' }]);
  });

  it('ignores unknown, malformed and binary frames and keeps going', async () => {
    const { server, client } = await setup();
    server.onConnection = (ws) => {
      ws.send(JSON.stringify({ type: 'from_the_future', x: 1 }));
      ws.send('not json');
      ws.send(Buffer.from('binary'), { binary: true });
      ws.send(JSON.stringify({ type: 'execution', execution: { id: 'no-command-text' } }));
      ws.send(JSON.stringify({ type: 'cancel_execution', id: 'still-here' }));
    };
    const executions: unknown[] = [];
    client.on('execution', (f) => executions.push(f));
    const cancel = next<[unknown]>(client, 'cancel_execution');
    client.start();
    assert.deepEqual((await cancel)[0], { type: 'cancel_execution', id: 'still-here' });
    assert.deepEqual(executions, []);
    assert.ok(client.isOpen);
  });

  it('reports a 401 upgrade refusal and connects with the token current at the next attempt', async () => {
    const { server, client, setToken } = await setup();
    setToken('revoked');
    const unauthorized = next(client, 'unauthorized');
    client.start();
    assert.deepEqual(await unauthorized, ['revoked'], 'the refused token is reported so stale refusals can be told apart');
    assert.ok(server.refused >= 1);
    setToken('good');
    await next(client, 'welcome');
    assert.equal(server.last && server.connections.at(-1)!.authorization, 'Bearer good');
  });

  it('grows the backoff while the server refuses and resets it after a stable connection', async () => {
    const { server, client, setToken } = await setup({ stableAfterMs: 100 });
    setToken('revoked');
    client.start();
    // The client counts a refusal only when its close event follows, so wait on its own counter.
    await waitFor(() => client.backoff.attempts >= 4);
    setToken('good');
    await next(client, 'welcome');
    await new Promise((r) => setTimeout(r, 150));
    server.last.terminate();
    await next(client, 'close');
    // Reset to 0 by the stable connection, then one step taken for this reconnect.
    assert.equal(client.backoff.attempts, 1);
    await next(client, 'welcome');
  });

  it('does not reset the backoff for a connection that drops at once', async () => {
    const { server, client } = await setup({ stableAfterMs: 10_000 });
    server.onConnection = (ws) => ws.terminate();
    client.start();
    await waitFor(() => server.connections.length >= 4);
    assert.ok(client.backoff.attempts >= 3, `attempts ${client.backoff.attempts}`);
  });

  it('drops a connection whose peer stops answering pings, then reconnects', async () => {
    const { server, client } = await setup({ pingIntervalMs: 40 }, false);
    client.start();
    await next(client, 'welcome');
    const closed = await next<[{ wasOpen: boolean; code: number }]>(client, 'close');
    assert.equal(closed[0].wasOpen, true);
    await next(client, 'welcome');
    assert.ok(server.connections.length >= 2);
  });

  it('stays connected while the peer answers pings', async () => {
    const { server, client } = await setup({ pingIntervalMs: 20 });
    client.start();
    await next(client, 'welcome');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(server.connections.length, 1);
    assert.ok(client.isOpen);
  });

  it('restart() reconnects at once with the new token', async () => {
    const { server, client, setToken } = await setup({ backoff: { initialMs: 5_000, maxMs: 5_000 } });
    client.start();
    await next(client, 'welcome');
    server.tokens.add('rotated');
    setToken('rotated');
    const started = Date.now();
    client.restart();
    await next(client, 'welcome');
    assert.ok(Date.now() - started < 2_000, 'restart must not wait for the backoff');
    assert.equal(server.connections.at(-1)!.authorization, 'Bearer rotated');
  });

  it('stop() closes with 1000 and never reconnects', async () => {
    const { server, client } = await setup();
    client.start();
    await next(client, 'welcome');
    const serverSaw = once(server.last, 'close');
    const started = Date.now();
    await client.stop();
    assert.ok(Date.now() - started < 1_500);
    const [code] = (await serverSaw) as [number];
    assert.equal(code, 1000);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(server.upgrades, 1);
  });

  it('stop() during a connect attempt against a dead port settles promptly', async () => {
    const { client, server } = await setup();
    await server.crash();
    client.start();
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await client.stop();
    assert.ok(Date.now() - started < 1_500);
  });
});

describe('stream client with an injected clock', () => {
  it('schedules reconnects on the backoff sequence, through the clock it was given', () => {
    const timers: { fn: () => void; ms: number }[] = [];
    const clock = {
      now: () => 0,
      setTimeout: (fn: () => void, ms: number) => timers.push({ fn, ms }),
      clearTimeout: () => {},
    };
    let attempts = 0;
    const client = new StreamClient({
      baseUrl: 'http://cp.invalid',
      token: () => 't',
      logger: silent,
      clock,
      backoff: { random: () => 0.5 },
      createSocket: () => {
        attempts++;
        throw new Error('socket factory refused');
      },
    });
    client.start();
    for (let i = 0; i < 7; i++) timers.at(-1)!.fn();
    assert.equal(attempts, 8);
    assert.deepEqual(
      timers.map((t) => t.ms),
      [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000],
    );
  });

  it('keeps the connection when a frame handler throws', async () => {
    const { server, client } = await setup();
    client.on('execution', () => {
      throw new Error('handler bug');
    });
    server.onConnection = (ws) => {
      ws.send(JSON.stringify({ type: 'execution', execution: { id: 'e', command_text: 'x' } }));
      ws.send(JSON.stringify({ type: 'cancel_execution', id: 'after-bug' }));
    };
    const cancel = next<[unknown]>(client, 'cancel_execution');
    client.start();
    assert.deepEqual((await cancel)[0], { type: 'cancel_execution', id: 'after-bug' });
    assert.equal(server.connections.length, 1);
  });
});

describe('server frame parsing', () => {
  it('accepts the decided shapes and rejects the rest', () => {
    assert.deepEqual(parseServerFrame({ type: 'welcome', node_id: 'n' }), { type: 'welcome', node_id: 'n' });
    assert.deepEqual(parseServerFrame({ type: 'welcome', node_id: 'n', health_interval_ms: 0 }), { type: 'welcome', node_id: 'n' });
    assert.equal(parseServerFrame({ type: 'welcome' }), null);
    assert.equal(parseServerFrame({ type: 'cancel_execution' }), null);
    assert.equal(parseServerFrame({ type: 'execution', execution: null }), null);
    assert.equal(parseServerFrame(['welcome']), null);
    assert.equal(parseServerFrame(null), null);
  });
});
