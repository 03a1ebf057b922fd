/** config → keys → database → migrations → context → app → listen, and a graceful shutdown. */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import pino from 'pino';
import { type Config, loadConfig, loopbackUrls } from './config.ts';
import { openDatabase } from './db/dialect.ts';
import { migrateToLatest } from './db/migrate.ts';
import { loadBootKeys } from './keys.ts';
import { type AppContext, createContext } from './context.ts';
import { generatePassword } from './modules/operators/passwords.ts';
import { buildApp, buildManagerApp } from './app.ts';
import { loadManagerTls } from './faces/manager/tls.ts';

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
  await ensureFirstOperator(ctx, config, log);
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
  const managerApp = await listenManager(ctx, config, log);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down');
    await Promise.all([app.close(), managerApp?.close()]);
    await ctx.stop();
    await database.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/** The manager face's own TLS listener (MANAGER_PORT; `off` = none). */
async function listenManager(ctx: AppContext, config: Config, log: Logger) {
  if (config.managerPort === null) return null;
  const tls = loadManagerTls(config);
  if (tls.generatedInto) log.warn({ file: tls.generatedInto }, 'Generated a self-signed certificate for the manager listener');
  const managerApp = await buildManagerApp(ctx, {
    logger: { level: config.logLevel },
    https: { cert: tls.cert, key: tls.key },
    selfSignedCert: tls.selfSigned,
    tlsFiles: { certPath: tls.certPath, keyPath: tls.keyPath },
  });
  const address = await managerApp.listen({ port: config.managerPort, host: config.managerHost, backlog: LISTEN_BACKLOG });
  // Nodes pin this (`cert_fingerprint` in their manager block), or trust it with accept_self_signed_cert.
  log.info({ address, cert_fingerprint: tls.fingerprint, self_signed: tls.selfSigned }, 'Manager face is serving (wss://…/ws/node)');
  return managerApp;
}

/**
 * A database without operators gets a super_admin (OPERATOR_USERNAME, OPERATOR_PASSWORD). A
 * generated password is written to DATA_DIR/operator-password (0600) and logged once, by the one
 * instance whose insert won.
 */
async function ensureFirstOperator(ctx: AppContext, config: Config, log: Logger): Promise<void> {
  const password = config.operatorPassword ?? generatePassword();
  if (!(await ctx.operators.auth.ensureFirstOperator(config.operatorUsername, password))) return;
  if (config.operatorPassword !== null) return void log.info({ username: config.operatorUsername }, 'Created the first operator (super_admin)');
  const file = path.join(config.dataDir, 'operator-password');
  rmSync(file, { force: true });
  writeFileSync(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
  log.warn(
    `Created the first operator "${config.operatorUsername}" (super_admin) with a generated password, stored in ${file} (mode 0600). Sign in at POST /api/v1/auth/login. It is not logged again.`,
  );
  log.warn(`OPERATOR_PASSWORD=${password}`);
}

export async function migrate(): Promise<void> {
  const config = loadConfig();
  const database = openDatabase(config.databaseUrl);
  const applied = await migrateToLatest(database.db);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  await database.close();
}
