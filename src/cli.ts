/** `nodeplane serve | migrate | agent`: each subcommand parses its own flags strictly (node:util parseArgs). */
import { parseArgs } from 'node:util';

const USAGE = `usage: nodeplane <command> [options]

commands:
  serve     run the control plane (the default when no command is given)
  migrate   apply database migrations and exit
  agent     run the node agent
  operators create an operator or reset a password (nodeplane operators --help)
  help      print this help

Run \`nodeplane <command> --help\` for a command's options.
`;

const SERVE_USAGE = `usage: nodeplane serve

Runs the control plane on HOST:PORT. It takes no options: configuration comes from the
environment and from a .env file in the working directory (see Configuration in the README).
The essentials:

  PORT          listen port (8080)
  HOST          listen address (0.0.0.0)
  DATA_DIR      data directory: SQLite file, keys (./data)
  DATABASE_URL  sqlite:<path> or postgres://… (SQLite under DATA_DIR)
  ADMIN_URLS    comma-separated URLs agents reach this server at, written into enrollment keys
                (listening on 0.0.0.0: http://<first non-loopback IPv4>:PORT)
  MASTER_KEY    admin bearer token (generated into DATA_DIR/master.key on first start)
  LOG_LEVEL     pino level (info)

  -h, --help    print this help
`;

const MIGRATE_USAGE = `usage: nodeplane migrate

Applies the database migrations to DATABASE_URL (or the SQLite file under DATA_DIR) and exits.
\`nodeplane serve\` does this on every start too; run it alone before rolling out instances.

  -h, --help    print this help
`;

/** A mistake in how the command was called: exit 2, the usual code for usage errors. */
class UsageError extends Error {
  readonly exitCode = 2;
}

/** Parses a subcommand that takes no options but --help; true when help was asked for. */
function wantsHelp(command: string, args: string[]): boolean {
  try {
    const { values } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
    return values.help === true;
  } catch (error) {
    throw new UsageError(`nodeplane ${command}: ${(error as Error).message}`);
  }
}

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  const command = first === undefined ? 'serve' : first;
  switch (command) {
    case 'serve':
      if (wantsHelp(command, rest)) return void process.stdout.write(SERVE_USAGE);
      return (await import('./server/main.ts')).serve();
    case 'migrate':
      if (wantsHelp(command, rest)) return void process.stdout.write(MIGRATE_USAGE);
      return (await import('./server/main.ts')).migrate();
    case 'operators':
      return (await import('./server/operators-cli.ts')).runOperators(rest);
    case 'agent':
      return (await import('./agent/main.ts')).runAgent(rest);
    case 'help':
    case '--help':
    case '-h':
      if (rest.length > 0) throw new UsageError(`nodeplane ${command}: unexpected argument ${rest[0]}`);
      return void process.stdout.write(USAGE);
    default:
      throw new UsageError(command.startsWith('-') ? `unknown option: ${command}` : `unknown command: ${command}`);
  }
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  const exitCode = (error as { exitCode?: unknown }).exitCode;
  if (exitCode === 2) {
    process.stderr.write(`${(error as Error).message}\n${error instanceof UsageError ? `\n${USAGE}` : ''}`);
    process.exit(2);
  }
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
