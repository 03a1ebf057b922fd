#!/usr/bin/env node
// `npm test`: type-check, then run every *.test.ts under src/ and test/ with Node's test runner.
// The suite runs on SQLite, and on Postgres as well when TEST_POSTGRES_URL is set.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const roots = ['src', 'test'];
const only = process.argv.slice(2);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (name === 'node_modules') return [];
    return statSync(full).isDirectory() ? walk(full) : full.endsWith('.test.ts') ? [full] : [];
  });
}

const files = (only.length ? only : roots.flatMap(walk)).sort();
const engines = process.env.TEST_POSTGRES_URL ? 'sqlite, postgres' : 'sqlite (set TEST_POSTGRES_URL to add postgres)';
console.log(`engines: ${engines}`);
console.log(`test files: ${files.length}`);

if (!only.length) {
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'], { stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
}

const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`, '--test-timeout=600000', ...files],
  { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
process.exit(result.status ?? 1);
