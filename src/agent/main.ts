import { existsSync } from 'node:fs';
import pino from 'pino';
import { Agent } from './edge/agent.ts';
import { type AgentConfig, loadAgentConfig, USAGE } from './shared/config.ts';
import { statePath } from './shared/state.ts';

/**
 * `nodeplane agent`: enrolls this machine, registers it and keeps it connected (the edge role),
 * and/or runs a proxy core for a Core panel (the Core role, `--core-server`). Resolves after a
 * SIGTERM/SIGINT shutdown; throws (→ cli prints the message, exits 1, or 2 for a bad command line) on
 * bad config or a fatal enrollment/registration answer of either role.
 */
export async function runAgent(args: string[]): Promise<void> {
  const config = loadAgentConfig(args);
  if (config === 'help') {
    process.stdout.write(USAGE);
    return;
  }

  const logger = pino({ name: 'nodeplane-agent', level: config.logLevel });
  const roles: Array<{ run(): Promise<void>; stop(): Promise<void> }> = [];
  if (config.core) {
    const { CoreAgent } = await import('./core/core-agent.ts');
    roles.push(new CoreAgent(config.core, config.dataDir, { logger: logger.child({ role: 'core' }), version: config.version }));
  }
  if (!config.core || edgeConfigured(config)) roles.push(new Agent(config, { logger }));

  const stopAll = () => Promise.all(roles.map((r) => r.stop().catch(() => {})));
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'shutting down');
    // A handle left behind by a library must not keep a stopped agent alive; the Core role may
    // spend up to ~10 s stopping its core and pushing its last usage.
    setTimeout(() => process.exit(process.exitCode ?? 0), config.core ? 15_000 : 2_000).unref();
    void stopAll();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    // One role failing for good takes the process down: a half-running agent would hide it.
    await Promise.all(
      roles.map((role) =>
        role.run().catch(async (error) => {
          await stopAll();
          throw error;
        }),
      ),
    );
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/** The edge role runs when it has something to go on: a server, a key, or saved state. */
function edgeConfigured(config: AgentConfig): boolean {
  return config.serverUrl !== null || config.enrollmentKey !== null || existsSync(statePath(config.dataDir));
}
