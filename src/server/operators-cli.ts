/** `nodeplane operators create | reset-password`: operators from the command line, on the configured database. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ROLES, type Role } from './principal.ts';
import { loadConfig } from './config.ts';
import { openDatabase } from './db/dialect.ts';
import { migrateToLatest } from './db/migrate.ts';
import { operatorsModule } from './modules/operators/operators.module.ts';
import { complexityProblem, generatePassword } from './modules/operators/passwords.ts';
import { AppError } from './errors.ts';
import { USERNAME_PATTERN } from '../contract/admin/operators.ts';

export const OPERATORS_USAGE = `usage: nodeplane operators <create|reset-password> [options]

  create           --username U --role viewer|operator|admin|super_admin [--display-name D] [--password-stdin]
  reset-password   --username U [--password-stdin]   (also clears a lockout and ends the user's sessions)

Without --password-stdin a password is generated and printed once. Passwords need an upper case
letter, a lower case letter and a digit (8–128 characters). Uses DATABASE_URL / DATA_DIR like serve.

  -h, --help       print this help
`;

class UsageError extends Error {
  readonly exitCode = 2;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // One trailing newline is how `echo` and here-strings end; it is not part of the password.
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export async function runOperators(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') return void process.stdout.write(OPERATORS_USAGE);
  if (sub !== 'create' && sub !== 'reset-password') throw new UsageError(`nodeplane operators: unknown command ${sub}\n\n${OPERATORS_USAGE}`);
  let values: Record<string, unknown>;
  try {
    const options: ParseArgsConfig['options'] = {
      help: { type: 'boolean', short: 'h' },
      username: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      ...(sub === 'create' ? { role: { type: 'string' }, 'display-name': { type: 'string' } } : {}),
    };
    values = parseArgs({ args: rest, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(`nodeplane operators ${sub}: ${(error as Error).message}\n\n${OPERATORS_USAGE}`);
  }
  if (values.help) return void process.stdout.write(OPERATORS_USAGE);
  const username = values.username as string | undefined;
  if (!username) throw new UsageError(`nodeplane operators ${sub}: --username is required\n\n${OPERATORS_USAGE}`);
  if (username.length > 64 || !new RegExp(USERNAME_PATTERN).test(username)) {
    throw new UsageError(`nodeplane operators ${sub}: --username must be 1–64 characters of A–Z, a–z, 0–9, _ . - starting with a letter or digit`);
  }
  const displayName = values['display-name'] as string | undefined;
  if (displayName !== undefined && (displayName.length < 1 || displayName.length > 128 || /[\x00-\x1f\x7f]/.test(displayName))) {
    throw new UsageError('nodeplane operators create: --display-name must be 1–128 characters without control characters');
  }
  const role = values.role as string | undefined;
  if (sub === 'create' && !ROLES.includes(role as Role)) throw new UsageError(`nodeplane operators create: --role must be one of ${ROLES.join(', ')}`);

  const generated = !values['password-stdin'];
  const password = generated ? generatePassword() : await readStdin();
  const problem = complexityProblem(password);
  if (problem) throw new Error(`nodeplane operators ${sub}: ${problem}`);

  const config = loadConfig();
  const database = openDatabase(config.databaseUrl);
  try {
    await migrateToLatest(database.db);
    const { services } = operatorsModule({ db: database.db, policy: () => ({ sessionLifetimeHours: 24, maxLoginAttempts: 5 }) });
    if (sub === 'create') {
      // Whoever runs the command line owns the machine: it acts with the master key's rights.
      const user = await services.users
        .create({ type: 'api-key', key: 'master' }, { username, password, role: role as Role, ...(displayName ? { display_name: displayName } : {}) })
        .catch((error: unknown) => {
          throw error instanceof AppError ? new Error(`nodeplane operators create: ${error.message}`) : error;
        });
      process.stdout.write(`created ${user.role} ${user.username} (${user.id})\n`);
    } else if (!(await services.users.resetPassword(username, password))) {
      throw new Error(`nodeplane operators reset-password: no operator named ${username}`);
    } else {
      process.stdout.write(`reset the password of ${username}; its sessions are ended\n`);
    }
    if (generated) process.stdout.write(`password: ${password}\n`);
  } finally {
    await database.close();
  }
}
