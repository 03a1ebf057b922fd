/**
 * The import rules of DESIGN.md (plus the agent's folder layering), checked on every `npm test`: a layer that reaches into the wrong
 * one compiles fine and only hurts later, when two faces or two instances have to share it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Violation {
  file: string;
  target: string;
  rule: string;
}

/** Source with comments blanked out, strings kept: an import named in a comment is no import. */
function stripComments(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end === -1 ? source.length : end + 2;
      out += ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < source.length && source[j] !== c) j += source[j] === '\\' ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const STATIC_FORMS = /\b(?:import|export)\s+(?:type\s+)?(?:[\w*${}\s,]+?\s+from\s*)?['"]([^'"\n]+)['"]/g;
const DYNAMIC_FORM = /\bimport\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g;

/** Every module specifier a file names statically: import/export…from, side-effect and dynamic imports. */
function importSpecifiers(source: string): string[] {
  const code = stripComments(source);
  return [...code.matchAll(STATIC_FORMS), ...code.matchAll(DYNAMIC_FORM)].map((m) => m[1]!);
}

/** A relative specifier as a repo-relative path (posix); a package name stays as written. */
function resolve(file: string, specifier: string): string {
  if (!specifier.startsWith('.')) return specifier;
  return path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
}

const under = (file: string, dir: string) => file.startsWith(`${dir}/`);

/**
 * What each agent folder may use of the others: roles build on shared parts and the proxy core,
 * never on each other, and only tests reach the doubles.
 */
const AGENT_LAYERS: Record<string, string[]> = {
  shared: ['shared'],
  'proxy-core': ['shared', 'proxy-core'],
  edge: ['shared', 'edge'],
  core: ['shared', 'proxy-core', 'core'],
};

function agentLayerBroken(file: string, target: string): boolean {
  const from = /^src\/agent\/([^/]+)\//.exec(file)?.[1];
  const to = /^src\/agent\/([^/]+)\//.exec(target)?.[1];
  const allowed = from && AGENT_LAYERS[from];
  if (!allowed || !to || file.endsWith('.test.ts')) return false;
  return !allowed.includes(to);
}

const isContractDep = (target: string) => target === 'typebox' || target.startsWith('typebox/') || under(target, 'src/contract');

/** The rules, applied to repo-relative paths (`src/…`) and their sources. */
function findViolations(files: ReadonlyMap<string, string>): Violation[] {
  const violations: Violation[] = [];
  for (const [file, source] of files) {
    if (/(^|\/)index\.tsx?$/.test(file)) violations.push({ file, target: '(file itself)', rule: 'no index.ts barrels' });
    for (const specifier of importSpecifiers(source)) {
      const target = resolve(file, specifier);
      const rule =
        under(file, 'src/server/modules') && (under(target, 'src/server/faces') || target === 'src/server/context.ts')
          ? 'modules never import faces or the composition root'
          : /^src\/server\/(db|events|jobs|channels)\//.test(file) && under(target, 'src/server/modules')
            ? 'db, events, jobs and channels never import modules'
            : under(file, 'src/contract') && !isContractDep(target)
              ? 'the contract imports only typebox and other contract files'
              : under(file, 'src/agent') && under(target, 'src/server')
                ? 'the agent imports nothing of the server'
                : agentLayerBroken(file, target)
                  ? 'agent roles build on shared/ and proxy-core/, never on each other or testing/'
                  : null;
      if (rule) violations.push({ file, target, rule });
    }
  }
  return violations;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const rel = `${dir}/${name}`;
    if (statSync(path.join(ROOT, rel)).isDirectory()) return sourceFiles(rel);
    return /\.tsx?$/.test(name) ? [rel] : [];
  });
}

const describeViolation = (v: Violation) => `${v.file} → ${v.target}`;

describe('architecture: import rules (DESIGN.md)', () => {
  const files = new Map(sourceFiles('src').map((file) => [file, readFileSync(path.join(ROOT, file), 'utf8')]));
  const found = findViolations(files);

  it('no file under src/ breaks an import rule', () => {
    assert.deepEqual(
      found.map((v) => `${describeViolation(v)}  (${v.rule})`),
      [],
      'import rule violations',
    );
  });

  it('the checker catches each rule and every import form', () => {
    const sample = new Map([
      ['src/server/modules/nodes/nodes.service.ts', `import { x } from '../../faces/admin/admin.face.ts';\nimport type { Ctx } from '../../context.ts';`],
      [
        'src/server/modules/nodes/ok.ts',
        `// import { x } from '../../faces/admin/admin.face.ts';\n/* export * from '../../context.ts' */\nimport { y } from '../clusters/clusters.service.ts';`,
      ],
      ['src/server/events/relay.ts', `export {\n  a,\n  type B,\n} from '../modules/webhooks/webhook.service.ts';`],
      ['src/server/jobs/runner.ts', `const m = await import('../modules/commands/command.service.ts');`],
      ['src/contract/admin/x.ts', `import { Type } from 'typebox';\nimport { Nullable } from '../types.ts';\nimport 'node:crypto';`],
      ['src/agent/edge/agent.ts', `import type { Config } from '../../server/config.ts';\nimport { b } from '../shared/backoff.ts';`],
      ['src/server/lib/index.ts', `export * from './ids.ts';`],
      ['src/agent/proxy-core/controller.ts', `import { CoreAgent } from '../core/core-agent.ts';\nimport { Backoff } from '../shared/backoff.ts';`],
      ['src/agent/core/core-agent.test.ts', `import { FakeCoreServer } from '../testing/fake-core-server.ts';`],
    ]);
    assert.deepEqual(findViolations(sample).map(describeViolation).sort(), [
      'src/agent/edge/agent.ts → src/server/config.ts',
      'src/agent/proxy-core/controller.ts → src/agent/core/core-agent.ts',
      'src/contract/admin/x.ts → node:crypto',
      'src/server/events/relay.ts → src/server/modules/webhooks/webhook.service.ts',
      'src/server/jobs/runner.ts → src/server/modules/commands/command.service.ts',
      'src/server/lib/index.ts → (file itself)',
      'src/server/modules/nodes/nodes.service.ts → src/server/context.ts',
      'src/server/modules/nodes/nodes.service.ts → src/server/faces/admin/admin.face.ts',
    ]);
  });
});
