/**
 * Keys that must exist before the server can start: the master key (generated on first start if
 * MASTER_KEY is unset) and the data key for secrets at rest (NODEPLANE_SECRET_KEY or a key file).
 * Both files live in the data dir with mode 0600.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Config } from './config.ts';
import { type DataKey, dataKeyFromBytes } from './lib/secrets.ts';

export interface BootKeys {
  masterKey: string;
  apiKey: string;
  metricsKey: string;
  dataKey: DataKey;
  /** Set only on the start that generated the master key, so it is logged exactly once. */
  generatedMasterKeyFile: string | null;
}

function readOrCreate(file: string, create: () => string): { value: string; created: boolean } {
  if (existsSync(file)) return { value: readFileSync(file, 'utf8').trim(), created: false };
  mkdirSync(path.dirname(file), { recursive: true });
  const value = create();
  writeFileSync(file, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return { value, created: true };
}

export function loadBootKeys(config: Config): BootKeys {
  let masterKey = config.masterKey;
  let generatedMasterKeyFile: string | null = null;
  if (!masterKey) {
    const file = path.join(config.dataDir, 'master.key');
    const { value, created } = readOrCreate(file, () => randomBytes(32).toString('base64url'));
    masterKey = value;
    if (created) generatedMasterKeyFile = file;
  }

  let dataKeyBytes: Buffer;
  if (config.secretKey) {
    dataKeyBytes = Buffer.from(config.secretKey, 'base64');
    if (dataKeyBytes.length !== 32) throw new Error('NODEPLANE_SECRET_KEY must be the base64 of 32 bytes');
  } else {
    const file = path.join(config.dataDir, 'secret.key');
    dataKeyBytes = Buffer.from(readOrCreate(file, () => randomBytes(32).toString('base64')).value, 'base64');
  }

  return {
    masterKey,
    apiKey: config.apiKey ?? masterKey,
    metricsKey: config.metricsKey ?? masterKey,
    dataKey: dataKeyFromBytes(dataKeyBytes),
    generatedMasterKeyFile,
  };
}
