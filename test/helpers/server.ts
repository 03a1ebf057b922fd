/**
 * Starts the real server (config → migrations → context → Fastify on an ephemeral port) on a fresh
 * database of the requested engine, and talks to it over real HTTP. Each server gets its own
 * SQLite file or its own scratch Postgres database, dropped on stop.
 */
import { ApiClient } from './api-client.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { loadConfig } from '../../src/server/config.ts';
import { createScratchPostgresDatabase, type Engine, openDatabase } from '../../src/server/db/dialect.ts';
import { migrateToLatest } from '../../src/server/db/migrate.ts';
import { loadBootKeys } from '../../src/server/keys.ts';
import { type AppContext, createContext } from '../../src/server/context.ts';
import { buildApp, buildManagerApp } from '../../src/server/app.ts';
import { loadManagerTls } from '../../src/server/faces/manager/tls.ts';
import { HttpsApiClient } from './https-client.ts';
import { LISTEN_BACKLOG } from '../../src/server/main.ts';

/** SQLite always; Postgres too when TEST_POSTGRES_URL is set (as .ci/run does). */
export function testEngines(): Engine[] {
  return process.env.TEST_POSTGRES_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface TestServer {
  engine: Engine;
  url: string;
  masterKey: string;
  ctx: AppContext;
  app: FastifyInstance;
  dataDir: string;
  databaseUrl: string;
  api: ApiClient;
  /** The manager face's TLS listener: `https://127.0.0.1:<port>` (null with MANAGER_PORT=off). */
  managerUrl: string;
  managerApp: FastifyInstance | null;
  /** The listener's (self-signed) certificate, to trust it, and its SHA-256 fingerprint, to pin it. */
  managerCert: string;
  managerFingerprint: string;
  /** The manager REST API with the master key, trusting the listener's certificate. */
  managerApi: HttpsApiClient;
  stop(): Promise<void>;
}

/** A scratch database of the engine: a SQLite file in a temp dir or a fresh Postgres database. */
export async function scratchDatabaseUrl(engine: Engine, dir: string): Promise<{ url: string; drop(): Promise<void> }> {
  if (engine === 'sqlite') return { url: `sqlite:${path.join(dir, 'test.db')}`, drop: async () => {} };
  const name = `nodeplane_test_${randomBytes(6).toString('hex')}`;
  return createScratchPostgresDatabase(process.env.TEST_POSTGRES_URL!, name);
}

/**
 * `options.databaseUrl` starts another instance on an existing server's database (its own data dir,
 * so its own instance id; pass one NODEPLANE_SECRET_KEY to both): the database is left to its owner.
 */
export async function startServer(engine: Engine, env: Record<string, string> = {}, options: { databaseUrl?: string } = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'nodeplane-test-'));
  const scratch = options.databaseUrl ? { url: options.databaseUrl, drop: async () => {} } : await scratchDatabaseUrl(engine, dataDir);
  const masterKey = `test-master-${randomBytes(8).toString('hex')}`;
  const config = loadConfig(
    {
      DATA_DIR: dataDir,
      DATABASE_URL: scratch.url,
      MASTER_KEY: masterKey,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      // Loopback is the test's "proxy": helpers that sign in many operators give each login its own
      // X-Forwarded-For, so the per-address login limit (5 a minute) counts them apart.
      TRUST_PROXY: '127.0.0.1',
      MANAGER_PORT: '0',
      ...env,
    },
    dataDir,
  );
  const keys = loadBootKeys(config);
  const database = openDatabase(config.databaseUrl, { poolSize: 5 });
  await migrateToLatest(database.db);
  const ctx = await createContext(config, keys, database, pino({ level: 'silent' }));
  const app = await buildApp(ctx);
  await app.listen({ port: 0, host: '127.0.0.1', backlog: LISTEN_BACKLOG });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  ctx.setListeningPort(port);
  const url = `http://127.0.0.1:${port}`;
  const tls = loadManagerTls(config);
  let managerApp: FastifyInstance | null = null;
  let managerUrl = '';
  if (config.managerPort !== null) {
    managerApp = await buildManagerApp(ctx, {
      https: { cert: tls.cert, key: tls.key },
      selfSignedCert: tls.selfSigned,
      tlsFiles: { certPath: tls.certPath, keyPath: tls.keyPath },
    });
    await managerApp.listen({ port: 0, host: '127.0.0.1', backlog: LISTEN_BACKLOG });
    const managerAddress = managerApp.server.address();
    managerUrl = `https://127.0.0.1:${typeof managerAddress === 'object' && managerAddress ? managerAddress.port : 0}`;
  }
  return {
    engine,
    url,
    masterKey,
    ctx,
    app,
    dataDir,
    databaseUrl: scratch.url,
    api: new ApiClient(url, masterKey),
    managerUrl,
    managerApp,
    managerCert: tls.cert,
    managerFingerprint: tls.fingerprint,
    managerApi: new HttpsApiClient(managerUrl, tls.cert, masterKey),
    async stop() {
      await Promise.all([app.close(), managerApp?.close()]);
      await ctx.stop();
      await database.close();
      await scratch.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export { ApiClient, type ApiResponse, type RawResponse } from './api-client.ts';
