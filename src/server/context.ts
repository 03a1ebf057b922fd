/**
 * Composition root: every repo-backed service, the outbox and the relay, wired by hand.
 * Reading this file top to bottom tells what the server is made of.
 */
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { DatabaseHandle } from './db/dialect.ts';
import { Outbox } from './events/outbox.ts';
import { EventRelay } from './events/relay.ts';
import { EventRetention } from './events/retention.ts';
import type { BootKeys } from './keys.ts';
import { SecretBox } from './lib/secrets.ts';
import { ClusterService } from './modules/clusters/cluster.service.ts';
import { Naming } from './modules/clusters/naming.ts';
import { EnrollmentKeyService } from './modules/enrollment-keys/enrollment-key.service.ts';
import { NodeService } from './modules/nodes/node.service.ts';
import { AliasService } from './modules/aliases/alias.service.ts';
import { AdminService } from './modules/admins/admin.service.ts';
import { loadInstanceId } from './modules/admins/identity.ts';
import { NodeMetricsService } from './modules/metrics/node-metrics.service.ts';
import { effectiveAdminUrls } from './config.ts';
import { AgentHub, registerAgentHubMetrics } from './faces/agents/agent-hub.ts';
import { ChannelDirectory } from './channels/directory.ts';
import { NodeChannels } from './channels/node-channels.ts';
import { PostgresSignalBus } from './channels/postgres-signal-bus.ts';
import { InProcessSignalBus, type SignalBus } from './channels/signal-bus.ts';
import { instanceRepo } from './modules/admins/instance.repo.ts';
import { relayConfigSignal } from './modules/vpn/config-signal.ts';
import { NodeSweep, unreachableThresholdWarning } from './jobs/node-sweep.ts';
import { JobRunner } from './jobs/job-queue.ts';
import { CommandService } from './modules/commands/command.service.ts';
import { SshService } from './modules/ssh/ssh.service.ts';
import { SelfUpdateService } from './modules/self-updates/self-update.service.ts';
import { WebhookService } from './modules/webhooks/webhook.service.ts';
import { VpnService } from './modules/vpn/vpn.service.ts';
import { CoreNodeService } from './modules/vpn/core-node.service.ts';
import { UsageService } from './modules/vpn/usage.service.ts';
import { AdminMetricsCollector } from './modules/metrics/admin-metrics.ts';
import { BROKER_QUEUE } from './events/broker/broker-relay.ts';
import { DELIVERY_QUEUE } from './modules/webhooks/webhook.repo.ts';
import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { Database } from './db/schema.ts';

/** What the later modules (commands, SSH, self-updates, webhooks) are built from. */
export interface ModuleDeps {
  config: Config;
  db: Kysely<Database>;
  log: Logger;
  outbox: Outbox;
  relay: EventRelay;
  jobs: JobRunner;
  secrets: SecretBox;
  naming: Naming;
  clusters: ClusterService;
  nodes: NodeService;
  admins: AdminService;
  channels: NodeChannels;
  registry: Registry;
}

export interface AppContext {
  config: Config;
  keys: BootKeys;
  database: DatabaseHandle;
  log: Logger;
  secrets: SecretBox;
  outbox: Outbox;
  relay: EventRelay;
  eventRetention: EventRetention;
  naming: Naming;
  clusters: ClusterService;
  enrollmentKeys: EnrollmentKeyService;
  nodes: NodeService;
  aliases: AliasService;
  admins: AdminService;
  nodeMetrics: NodeMetricsService;
  channels: NodeChannels;
  agentHub: AgentHub;
  nodeSweep: NodeSweep;
  jobs: JobRunner;
  commands: CommandService;
  ssh: SshService;
  selfUpdates: SelfUpdateService;
  webhooks: WebhookService;
  vpn: VpnService;
  coreNodes: CoreNodeService;
  usage: UsageService;
  adminMetrics: AdminMetricsCollector;
  /** Called once the listener is bound; ADMIN_URLS defaults to the bound address. */
  setListeningPort(port: number): void;
  adminUrls(): string[];
  /** Stops background work; the database handle is closed by its owner. */
  stop(): Promise<void>;
}

export async function createContext(config: Config, keys: BootKeys, database: DatabaseHandle, log: Logger): Promise<AppContext> {
  const { db } = database;
  const instanceId = loadInstanceId(config.dataDir);
  const jobs = new JobRunner(db, 500, (error, job) => log.warn({ err: error, job: job && { id: job.id, queue: job.queue, attempts: job.attempts } }, 'job failed'), instanceId);
  const relay = new EventRelay(db, 1000, (error) => log.error({ err: error }, 'event relay failed'), () => jobs.kick());
  // After any committed unit of work: deliver its events and pick up the jobs it enqueued.
  const outbox = new Outbox(db, config.coreName, (withEvents) => {
    if (withEvents) relay.kick();
    jobs.kick();
  });
  const eventRetention = new EventRetention(
    db,
    { retentionDays: config.eventRetentionDays, intervalMs: config.eventPruningIntervalMs },
    (error) => log.error({ err: error }, 'event pruning failed'),
  );
  const naming = new Naming(config.vpnDomain);
  const clusters = new ClusterService(db, naming, {
    autoRanges: config.clusterAutoRanges,
    subnetPrefix: config.clusterSubnetPrefix,
    slotReservation: config.adminSlotReservation + config.nodeSlotReservation,
  });

  let listeningPort = config.port;
  const adminUrls = () => effectiveAdminUrls(config, listeningPort);
  const secrets = new SecretBox(keys.dataKey);
  const enrollmentKeys = new EnrollmentKeyService(db, outbox, clusters, {
    defaultClusterName: config.defaultClusterName,
    publicEnrollmentKeyEnabled: config.publicEnrollmentKeyEnabled,
    adminUrls,
    failedVerifyWindowMs: config.failedVerifyEventWindowMs,
    onError: (error) => log.error({ err: error }, 'recording failed enrollment-key verifications failed'),
  });
  const nodes = new NodeService(db, outbox, naming, secrets, { adminUrls, derpMapUrl: config.derpMapUrl, addressReservation: config.adminSlotReservation, statusDebounceMs: config.nodeStatusDebounceMs, onError: (error) => log.error({ err: error }, 'node last-seen flush failed') });
  const aliases = new AliasService(db, naming);
  const admins = new AdminService(db, config, (error) => log.error({ err: error }, 'admin instance heartbeat failed'));
  const nodeMetrics = new NodeMetricsService(db);

  // Node channels: one seam for every face's live channels, across instances (channels/README.md).
  const onSignalError = (error: unknown, topic: string) => log.error({ err: error, topic }, 'signal bus failed');
  const bus: SignalBus = database.postgresUrl
    ? new PostgresSignalBus(instanceId, db, database.postgresUrl, onSignalError)
    : new InProcessSignalBus(instanceId, onSignalError);
  const channels = new NodeChannels({
    bus,
    directory: new ChannelDirectory(db, instanceId, (error) => log.error({ err: error }, 'node channel directory write failed')),
    log,
    liveInstanceIds: async () => (await instanceRepo.live(db, new Date(Date.now() - config.instanceTtlMs).toISOString())).map((row) => row.id),
    pruneIntervalMs: config.instanceHeartbeatMs,
  });
  const stopConfigRelay = relayConfigSignal(bus, (error) => log.error({ err: error }, 'relaying a config change failed'));
  nodes.onTokenRevoked((nodeId, keepTokenHash) => channels.revoke(nodeId, keepTokenHash));
  channels.onRevoked((nodeId) => nodes.forgetSession(nodeId));
  const agentHub = new AgentHub(
    {
      reportHealth: (nodeId, status) => nodes.reportStatus(nodeId, status),
      touch: (nodeId) => nodes.touch(nodeId),
      channelLost: (nodeId, closedAt) => nodes.markUnreachable(nodeId, closedAt),
    },
    channels,
    log,
    { pingIntervalMs: config.agentPingIntervalMs, healthIntervalMs: config.agentHealthIntervalMs, channelGraceMs: config.nodeChannelGraceMs },
  );
  registerAgentHubMetrics(nodeMetrics.registry, agentHub);
  const nodeSweep = new NodeSweep(
    {
      ownedClusterIds: async () => {
        await admins.refresh();
        return admins.ownedClusterIds();
      },
      findStale: (cutoff, clusterIds) => nodes.findStale(cutoff, clusterIds),
      markUnreachable: (nodeId) => nodes.markUnreachable(nodeId),
      flushLastSeen: () => nodes.flushLastSeen(),
      onError: (error) => log.error({ err: error }, 'unreachable-node sweep failed'),
    },
    { intervalMs: config.nodeSweepIntervalMs, unreachableAfterMs: config.nodeUnreachableAfterMs },
  );
  const thresholdWarning = unreachableThresholdWarning(config.nodeUnreachableAfterMs, config.agentPingIntervalMs);
  if (thresholdWarning) log.warn(thresholdWarning);

  const deps: ModuleDeps = { config, db, log, outbox, relay, jobs, secrets, naming, clusters, nodes, admins, channels, registry: nodeMetrics.registry };
  const commands = new CommandService(deps);
  const ssh = new SshService(deps);
  const selfUpdates = new SelfUpdateService(deps);
  const webhooks = new WebhookService(deps);
  const vpn = new VpnService(deps);
  const coreNodes = new CoreNodeService(deps);
  const usage = new UsageService(deps);
  const modules = [commands, ssh, selfUpdates, webhooks, vpn, coreNodes, usage];
  const adminMetrics = new AdminMetricsCollector({
    db,
    registry: nodeMetrics.registry,
    brokerEnabled: webhooks.broker !== null,
    queues: webhooks.broker ? [DELIVERY_QUEUE, BROKER_QUEUE] : [DELIVERY_QUEUE],
    admins,
  });

  await relay.start();
  eventRetention.start();
  enrollmentKeys.start();
  await admins.start();
  await nodes.start();
  await channels.start();
  agentHub.start();
  nodeSweep.start();
  for (const module of modules) await module.start();
  await jobs.start();

  return {
    config,
    keys,
    database,
    log,
    secrets,
    outbox,
    relay,
    eventRetention,
    naming,
    clusters,
    enrollmentKeys,
    nodes,
    aliases,
    admins,
    nodeMetrics,
    channels,
    agentHub,
    nodeSweep,
    jobs,
    commands,
    ssh,
    selfUpdates,
    webhooks,
    vpn,
    coreNodes,
    usage,
    adminMetrics,
    setListeningPort(port) {
      listeningPort = port;
    },
    adminUrls,
    async stop() {
      adminMetrics.close();
      await enrollmentKeys.stop();
      await eventRetention.stop();
      await jobs.stop();
      for (const module of modules.slice().reverse()) await module.stop();
      await nodeSweep.stop();
      await agentHub.stop();
      await channels.stop();
      stopConfigRelay();
      await nodes.stop();
      await admins.stop();
      await relay.stop();
    },
  };
}
