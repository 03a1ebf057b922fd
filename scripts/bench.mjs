#!/usr/bin/env node
// `npm run bench [-- [--full] <name...>]`: runs the benches in bench/ one after another (all of them,
// or the named ones), passes their output through, and ends with one table of the figures they
// report on their `BENCH {…}` lines. By default each runs at a size that keeps the whole set near
// ten minutes on a 2-core machine; --full runs each at its own (published) defaults instead.
// Postgres variants run when DATABASE_URL or TEST_POSTGRES_URL is set, as each bench documents.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Sizes for the default run; each bench's own defaults are the sizes the README's figures use. */
const QUICK = {
  'agent-core': ['--users', '2000', '--active', '100', '--seconds', '10'],
  'config-render': ['--subscriptions', '2000', '--nodes', '200', '--changes', '20'],
  connections: ['--agents', '1000'],
  fanout: ['--agents', '1000', '--rounds', '3'],
  heartbeat: ['--seconds', '5', '--agents', '200'],
  manager: ['--nodes', '300', '--seconds', '8'],
  storm: ['--agents', '1000'],
  'usage-ingest': ['--seconds', '4'],
  webhooks: ['--events', '500', '--seconds', '3'],
};

const USAGE = `usage: npm run bench -- [--full] [name...]

Runs every bench in bench/ (or the named ones) one after another and prints a summary table.
  --full      each bench at its own default size (slow: the published figures), not the quick size
  -h, --help  print this help
benches: ${listBenches().join(', ')}
`;

function listBenches() {
  return readdirSync(path.join(ROOT, 'bench'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

function runOne(name, args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join('bench', `${name}.ts`), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const figures = [];
    let pending = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        if (!line.startsWith('BENCH ')) continue;
        try {
          figures.push(JSON.parse(line.slice(6)));
        } catch {
          figures.push({ name: `${name}: unreadable BENCH line`, aim: line.slice(6, 80) });
        }
      }
    });
    child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), figures }));
  });
}

const num = (n) => (typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US', { maximumSignificantDigits: 4 }) : '—');

function table(rows) {
  const header = ['bench', 'figure', 'baseline', 'ratio', 'aim'];
  const cells = rows.map((r) => [
    r.name ?? '?',
    r.figure === undefined ? '—' : `${num(r.figure)} ${r.unit ?? ''}`.trim(),
    r.baseline === undefined ? '—' : `${num(r.baseline)} ${r.baselineUnit ?? r.unit ?? ''}`.trim(),
    r.ratio === undefined ? '—' : num(r.ratio),
    r.aim || '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c) => `| ${c.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

let parsed;
try {
  parsed = parseArgs({ options: { full: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
} catch (error) {
  process.stderr.write(`${error.message}\n\n${USAGE}`);
  process.exit(2);
}
if (parsed.values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const all = listBenches();
const unknown = parsed.positionals.filter((n) => !all.includes(n));
if (unknown.length > 0) {
  process.stderr.write(`unknown bench: ${unknown.join(', ')}\n\n${USAGE}`);
  process.exit(2);
}
const chosen = parsed.positionals.length > 0 ? parsed.positionals : all;

const rows = [];
let failed = 0;
const started = Date.now();
for (const name of chosen) {
  const args = parsed.values.full ? [] : (QUICK[name] ?? []);
  console.log(`\n── ${name} ${args.join(' ')}`.trimEnd());
  const t = Date.now();
  const { code, figures } = await runOne(name, args);
  console.log(`── ${name}: ${code === 0 ? 'done' : `exit ${code}`} in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  if (code !== 0) failed++;
  if (figures.length === 0) rows.push({ name, aim: code === 0 ? 'reported no figure' : `failed (exit ${code})` });
  else rows.push(...figures.map((f) => (code === 0 ? f : { ...f, aim: `${f.aim ? `${f.aim}; ` : ''}bench exited ${code}` })));
}

console.log(
  `\n${chosen.length} bench${chosen.length === 1 ? '' : 'es'} in ${((Date.now() - started) / 1000).toFixed(0)} s${parsed.values.full ? ' (full sizes)' : ' (quick sizes; --full for the published ones)'}:\n`,
);
console.log(table(rows));
process.exit(failed > 0 ? 1 : 0);
