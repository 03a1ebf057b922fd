/**
 * Test helpers (tests and bench only): free ports, a real v2ray process, a byte-serving HTTP
 * server and a minimal SOCKS5 client, so tests can push real traffic through real cores and
 * count every byte on both ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const V2RAY_BINARY = process.env.NODEPLANE_TEST_V2RAY ?? '/usr/bin/v2ray';
export const HAVE_V2RAY = existsSync(V2RAY_BINARY);
/** For `describe(..., { skip })`: a reason naming what is missing, or false. */
export const SKIP_NO_V2RAY = HAVE_V2RAY ? false : `${V2RAY_BINARY} is missing (apt-get install v2ray; .ci/run does)`;

export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function waitForPort(port: number, ms = 10_000): Promise<void> {
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      }),
    `127.0.0.1:${port} to accept connections`,
    ms,
  );
}

export interface V2rayProcess {
  proc: ChildProcess;
  dir: string;
  output: () => string;
  stop: () => Promise<void>;
}

/** A v2ray on `config`, resolved once every port in `waitPorts` accepts connections. */
export async function startV2ray(config: unknown, waitPorts: number[]): Promise<V2rayProcess> {
  const dir = await mkdtemp(path.join(tmpdir(), 'np-v2ray-'));
  const file = path.join(dir, 'config.json');
  await writeFile(file, JSON.stringify(config));
  const proc = spawn(V2RAY_BINARY, ['-config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const port of waitPorts) await waitForPort(port);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}; v2ray said: ${out}`);
  }
  return { proc, dir, output: () => out, stop };
}

/** A client-side v2ray: SOCKS inbound on `socksPort` → `outbound` (a vmess/vless/trojan outbound). */
export function clientConfig(socksPort: number, outbound: Record<string, unknown>) {
  return {
    log: { loglevel: 'warning' },
    inbounds: [{ tag: 'socks', listen: '127.0.0.1', port: socksPort, protocol: 'socks', settings: { auth: 'noauth', udp: false } }],
    outbounds: [{ tag: 'proxy', ...outbound }],
  };
}

export const vmessOutbound = (port: number, id: string) => ({
  protocol: 'vmess',
  settings: { vnext: [{ address: '127.0.0.1', port, users: [{ id, alterId: 0, security: 'aes-128-gcm' }] }] },
});

export const vlessOutbound = (port: number, id: string) => ({
  protocol: 'vless',
  settings: { vnext: [{ address: '127.0.0.1', port, users: [{ id, encryption: 'none' }] }] },
});

export const trojanOutbound = (port: number, password: string) => ({
  protocol: 'trojan',
  settings: { servers: [{ address: '127.0.0.1', port, password }] },
});

export interface ByteServer {
  port: number;
  /** Bytes of request bodies received, total. */
  received: () => number;
  close: () => Promise<void>;
}

/** GET /bytes/<n> answers n bytes; POST counts the body and answers "ok". */
export async function startByteServer(): Promise<ByteServer> {
  let received = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'POST') {
      req.on('data', (d: Buffer) => (received += d.length));
      req.on('end', () => res.end('ok'));
      return;
    }
    const n = Number(/^\/bytes\/(\d+)$/.exec(req.url ?? '')?.[1] ?? 0);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
    res.end(Buffer.alloc(n, 0x61));
  });
  server.keepAliveTimeout = 100;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => received,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface SocksResult {
  /** Bytes the client wrote after the SOCKS handshake (the HTTP request). */
  sent: number;
  /** Bytes the client read after the SOCKS handshake (HTTP head + body). */
  received: number;
  status: number;
  body: Buffer;
}

/**
 * One HTTP/1.0 request through a SOCKS5 proxy (no auth, CONNECT to 127.0.0.1:port). HTTP/1.0 with
 * `connection: close` makes the server close after the body, so the byte counts are exact.
 * Rejects when the proxy refuses or drops the connection (a user the core no longer knows).
 */
export function socksHttp(
  socksPort: number,
  targetPort: number,
  method: 'GET' | 'POST',
  urlPath: string,
  body?: Buffer,
  timeoutMs = 10_000,
): Promise<SocksResult> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socksPort, '127.0.0.1');
    // A VMess server that does not know the user reads on silently instead of closing.
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('socks request timed out')));
    let stage = 0;
    let buffered = Buffer.alloc(0);
    let sent = 0;
    const chunks: Buffer[] = [];
    socket.once('connect', () => socket.write(Buffer.from([5, 1, 0])));
    socket.on('data', (data: Buffer) => {
      if (stage === 2) {
        chunks.push(data);
        return;
      }
      buffered = Buffer.concat([buffered, data]);
      if (stage === 0 && buffered.length >= 2) {
        if (buffered[0] !== 5 || buffered[1] !== 0) return socket.destroy(new Error('socks: no acceptable auth method'));
        buffered = buffered.subarray(2);
        stage = 1;
        const req = Buffer.alloc(10);
        req.set([5, 1, 0, 1, 127, 0, 0, 1]);
        req.writeUInt16BE(targetPort, 8);
        socket.write(req);
      }
      if (stage === 1 && buffered.length >= 10) {
        if (buffered[1] !== 0) return socket.destroy(new Error(`socks: connect failed (reply ${buffered[1]})`));
        // IPv4 reply = 10 bytes; anything after it is already the HTTP answer.
        const rest = buffered.subarray(10);
        stage = 2;
        if (rest.length) chunks.push(rest);
        const head = `${method} ${urlPath} HTTP/1.0\r\nhost: 127.0.0.1\r\nconnection: close\r\n${body ? `content-length: ${body.length}\r\n` : ''}\r\n`;
        const payload = body ? Buffer.concat([Buffer.from(head), body]) : Buffer.from(head);
        sent = payload.length;
        socket.write(payload);
      }
    });
    socket.once('error', reject);
    socket.once('close', () => {
      const all = Buffer.concat(chunks);
      const headEnd = all.indexOf('\r\n\r\n');
      if (stage < 2 || headEnd < 0) return reject(new Error(`connection closed before an HTTP answer (stage ${stage}, ${all.length} bytes)`));
      const status = Number(/^HTTP\/1\.\d (\d{3})/.exec(all.subarray(0, headEnd).toString())?.[1] ?? 0);
      resolve({ sent, received: all.length, status, body: all.subarray(headEnd + 4) });
    });
  });
}

const CURL = '/usr/bin/curl';
export const HAVE_CURL = existsSync(CURL);

/**
 * One curl request through a SOCKS5 proxy. Returns what curl itself counted: bytes it sent
 * (request head + body) and received (response head + body) on the proxied connection.
 */
export function curlThroughSocks(socksPort: number, url: string, uploadBytes = 0): Promise<{ sent: number; received: number; status: number }> {
  return new Promise((resolve, reject) => {
    const args = [
      '-sS',
      '-o',
      '/dev/null',
      '--max-time',
      '20',
      '--socks5-hostname',
      `127.0.0.1:${socksPort}`,
      '-w',
      '%{http_code} %{size_request} %{size_upload} %{size_header} %{size_download}',
    ];
    if (uploadBytes) args.push('--data-binary', '@-', '-H', 'content-type: application/octet-stream');
    args.push(url);
    const child = spawn(CURL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.stdin!.end(uploadBytes ? Buffer.alloc(uploadBytes, 0x62) : undefined);
    child.once('error', reject);
    child.once('close', (code) => {
      const [status, request, upload, header, download] = out.trim().split(' ').map(Number);
      if (code !== 0) return reject(new Error(`curl exited ${code}: ${err.trim()}`));
      resolve({ status: status!, sent: request! + upload!, received: header! + download! });
    });
  });
}

export interface CountingRelay {
  port: number;
  /** Bytes client → target and target → client, as TCP payload (the tunnel's wire size). */
  up: () => number;
  down: () => number;
  close: () => Promise<void>;
}

/** A TCP relay to 127.0.0.1:targetPort that counts the bytes crossing it. */
export async function countingRelay(targetPort: number): Promise<CountingRelay> {
  let up = 0;
  let down = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const target = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(target);
    client.on('data', (d: Buffer) => (up += d.length));
    target.on('data', (d: Buffer) => (down += d.length));
    client.pipe(target).pipe(client);
    const end = () => {
      client.destroy();
      target.destroy();
      sockets.delete(client);
      sockets.delete(target);
    };
    client.on('error', end).on('close', end);
    target.on('error', end).on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    up: () => up,
    down: () => down,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
