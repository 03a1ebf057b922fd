/** config → keys → database → migrations → context → app → listen, and a graceful shutdown. */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { loadConfig, loopbackUrls } from './config.ts';
import { openDatabase } from './db/dialect.ts';
import { migrateToLatest } from './db/migrate.ts';
import { loadBootKeys } from './keys.ts';
import { createContext } from './context.ts';
import { buildApp } from './app.ts';

export const LISTEN_BACKLOG = 4096;

export async function serve(): Promise<void> {
  const config = loadConfig();
  const log = pino({ level: config.logLevel, ...(process.stdout.isTTY ? { transport: { target: 'pino/file', options: { destination: 1 } } } : {}) });
  const keys = loadBootKeys(config);
  if (keys.generatedMasterKeyFile) {
    log.warn(
      `Generated a master key and stored it in ${keys.generatedMasterKeyFile} (mode 0600). Use it as "Authorization: Bearer <key>". It is not logged again.`,
    );
    log.warn(`MASTER_KEY=${keys.masterKey}`);
  }
  const database = openDatabase(config.databaseUrl);
  const applied = await migrateToLatest(database.db);
  if (applied.length > 0) log.info({ migrations: applied }, 'applied migrations');

  const ctx = await createContext(config, keys, database, log);
  const https = config.tlsCertFile && config.tlsKeyFile ? { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) } : null;
  const app = await buildApp(ctx, { logger: { level: config.logLevel }, https });
  // A registration storm opens thousands of connections at once; Node's default backlog (511)
  // overflows and the kernel resets the excess. The kernel still caps it at net.core.somaxconn.
  const address = await app.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG });
  const bound = app.server.address();
  if (bound && typeof bound === 'object') ctx.setListeningPort(bound.port);
  const adminUrls = ctx.adminUrls();
  const loopback = loopbackUrls(adminUrls);
  if (loopback.length > 0) {
    log.warn(
      { admin_urls: adminUrls },
      `Enrollment keys send agents to ${loopback.join(', ')}, which is loopback: agents on other machines cannot reach it. Set ADMIN_URLS to a URL they can reach.`,
    );
  }
  log.info({ address, engine: database.engine }, 'Nodeplane is serving');

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down');
    await app.close();
    await ctx.stop();
    await database.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

export async function migrate(): Promise<void> {
  const config = loadConfig();
  const database = openDatabase(config.databaseUrl);
  const applied = await migrateToLatest(database.db);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  await database.close();
}
