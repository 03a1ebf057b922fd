/** `nodeplane serve | migrate | agent` */
const [command = 'serve', ...args] = process.argv.slice(2);

const usage = `usage: nodeplane <command>

  serve     run the control plane (default)
  migrate   apply database migrations and exit
  agent     run the node agent (see \`nodeplane agent --help\`)
`;

try {
  switch (command) {
    case 'serve':
      await (await import('./server/main.ts')).serve();
      break;
    case 'migrate':
      await (await import('./server/main.ts')).migrate();
      break;
    case 'agent':
      await (await import('./agent/main.ts')).runAgent(args);
      break;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(usage);
      break;
    default:
      process.stderr.write(`unknown command: ${command} ${args.join(' ')}\n${usage}`);
      process.exit(2);
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
