import pino from 'pino';
import { Agent } from './agent.ts';
import { ConfigError, loadAgentConfig, USAGE } from './config.ts';

/**
 * `nodeplane agent`: enrolls this machine, registers it and keeps it connected. Resolves after a
 * SIGTERM/SIGINT shutdown; throws (→ cli prints the message, exits 1) on bad config or a fatal
 * enrollment/registration answer.
 */
export async function runAgent(args: string[]): Promise<void> {
  let config;
  try {
    config = loadAgentConfig(args);
  } catch (error) {
    if (error instanceof ConfigError) process.stderr.write(`${USAGE}\n`);
    throw error;
  }
  if (config === 'help') {
    process.stdout.write(USAGE);
    return;
  }

  const logger = pino({ name: 'nodeplane-agent', level: config.logLevel });
  const agent = new Agent(config, { logger });
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'shutting down');
    // A handle left behind by a library must not keep a stopped agent alive.
    setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
    void agent.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    await agent.run();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
