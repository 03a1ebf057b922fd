/**
 * Composition root: every repo-backed service, the outbox and the relay, wired by hand. Modules
 * return their services and background work from a factory (`<noun>.module.ts`); this file
 * registers it all, so reading it top to bottom tells what the server is made of and what runs in
 * the background (the BACKGROUND table below).
 */
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { DatabaseHandle } from './db/dialect.ts';
import { Outbox } from './events/outbox.ts';
import { EventRelay } from './events/relay.ts';
import { EventRetention } from './events/retention.ts';
import type { BootKeys } from './keys.ts';
import { SecretBox } from './lib/secrets.ts';
import type { ClusterService } from './modules/clusters/cluster.service.ts';
import { clustersModule } from './modules/clusters/clusters.module.ts';
import { Naming } from './modules/clusters/naming.ts';
import { EnrollmentKeyService } from './modules/enrollment-keys/enrollment-key.service.ts';
import { NodeService } from './modules/nodes/node.service.ts';
import type { FleetService } from './modules/inventory/fleet.service.ts';
import { inventoryModule } from './modules/inventory/inventory.module.ts';
import type { AliasService } from './modules/aliases/alias.service.ts';
import { aliasesModule } from './modules/aliases/aliases.module.ts';
import { InstanceService } from './modules/instances/instance.service.ts';
import { loadInstanceId } from './modules/instances/identity.ts';
import { NodeMetricsService } from './modules/metrics/node-metrics.service.ts';
import { effectiveAdminUrls } from './config.ts';
import { AgentHub, registerAgentHubMetrics } from './faces/agents/agent-hub.ts';
import { ChannelDirectory } from './channels/directory.ts';
import { NodeChannels } from './channels/node-channels.ts';
import { PostgresSignalBus } from './channels/postgres-signal-bus.ts';
import { InProcessSignalBus, type SignalBus } from './channels/signal-bus.ts';
import { instanceRepo } from './modules/instances/instance.repo.ts';
import { relayConfigSignal } from './modules/vpn/config-signal.ts';
import { sweepUnreachable, unreachableThresholdWarning } from './jobs/node-sweep.ts';
import { Scheduler } from './jobs/scheduler.ts';
import type { ModuleManifest } from './manifest.ts';
import { JobRunner } from './jobs/job-queue.ts';
import type { CommandService } from './modules/commands/command.service.ts';
import { commandsModule } from './modules/commands/commands.module.ts';
import type { SshService } from './modules/ssh/ssh.service.ts';
import { sshModule } from './modules/ssh/ssh.module.ts';
import type { SelfUpdateService } from './modules/self-updates/self-update.service.ts';
import { selfUpdatesModule } from './modules/self-updates/self-updates.module.ts';
import type { WebhookService } from './modules/webhooks/webhook.service.ts';
import { webhooksModule } from './modules/webhooks/webhooks.module.ts';
import type { CoreNodeService } from './modules/vpn/core-node.service.ts';
import type { UsageService } from './modules/vpn/usage.service.ts';
import { type VpnAdminServices, vpnModule } from './modules/vpn/vpn.module.ts';
import { AdminMetricsCollector } from './modules/metrics/admin-metrics.ts';
import { BROKER_QUEUE } from './events/broker/broker-relay.ts';
import { DELIVERY_QUEUE } from './modules/webhooks/webhook.repo.ts';

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
  fleet: FleetService;
  aliases: AliasService;
  instances: InstanceService;
  nodeMetrics: NodeMetricsService;
  channels: NodeChannels;
  agentHub: AgentHub;
  jobs: JobRunner;
  scheduler: Scheduler;
  commands: CommandService;
  ssh: SshService;
  selfUpdates: SelfUpdateService;
  webhooks: WebhookService;
  vpn: VpnAdminServices;
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
  // Traffic ingest commits all the time and rarely writes an event: wake the relay and the job
  // poller only after commits that did (the outbox above would cost a claim query per queue per push).
  const ingestOutbox = new Outbox(db, config.coreName, (withEvents) => {
    if (!withEvents) return;
    relay.kick();
    jobs.kick();
  });
  const eventRetention = new EventRetention(db, config.eventRetentionDays);
  const naming = new Naming(config.vpnDomain);
  const clustersM = clustersModule({ db, naming, config });
  const { clusters } = clustersM.services;

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
  const aliasesM = aliasesModule({ db, naming });
  const { aliases } = aliasesM.services;
  // Its heartbeat is the membership lease the owned-clusters scope rests on: it beats from start() to stop().
  const instances = new InstanceService(db, config, (error) => log.error({ err: error }, 'admin instance heartbeat failed'));
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
  const thresholdWarning = unreachableThresholdWarning(config.nodeUnreachableAfterMs, config.agentPingIntervalMs);
  if (thresholdWarning) log.warn(thresholdWarning);

  const commandsM = commandsModule({ db, outbox, channels, log, config });
  const sshM = sshModule({ db, outbox });
  const selfUpdatesM = selfUpdatesModule({ db, outbox, channels, log, config });
  const webhooksM = webhooksModule({ db, secrets, log, registry: nodeMetrics.registry, config });
  const vpnM = vpnModule({ db, outbox, ingestOutbox, secrets, config });
  const { commands } = commandsM.services;
  const { ssh } = sshM.services;
  const { selfUpdates } = selfUpdatesM.services;
  const { webhooks, broker } = webhooksM.services;
  const { vpn, coreNodes, usage } = vpnM.services;
  const inventoryM = inventoryModule({ db, deleters: { 'edge-agent': (id) => nodes.delete(id), core: (id) => vpn.nodes.delete(id) } });
  const { fleet } = inventoryM.services;
  const manifests: ModuleManifest<unknown>[] = [clustersM, aliasesM, commandsM, sshM, selfUpdatesM, webhooksM, vpnM, inventoryM];

  const scheduler = new Scheduler({
    db,
    owner: instances.adminId,
    ownedClusterIds: async () => {
      await instances.refresh();
      return instances.ownedClusterIds();
    },
    onError: (name, error) => log.error({ err: error, schedule: name }, 'scheduled pass failed'),
  });

  // ── BACKGROUND ── everything this server runs besides answering requests. Modules' job queues,
  // relay subscribers, agent frame handlers and schedules are registered from their manifests:
  //   commands      queue execution_creation · on agent connect: push pending executions
  //                 expire-executions (owned clusters) · expire-orphaned-executions, prune-executions (once in fleet)
  //   self-updates  queue self_updates · frame self_update_result (acks answer channel requests)
  //   webhooks      subscribers webhooks (+ broker) · queues webhook_delivery (+ event_broker)
  //   vpn           sweep-subscriptions, sweep-offline-core-nodes, prune-ingest-batch-keys (once in fleet)
  // plus the root's own passes right here (unreachable sweep, channel directory pruning, outbox
  // retention), and per-instance loops that are not periodic passes:
  // the job runner and event relay (workers), the admin heartbeat (membership lease, in InstanceService),
  // the agent hub's pings (per connection), the last-seen and failed-verification buffers (per buffer).
  scheduler.add({
    name: 'nodes.sweep-unreachable',
    scope: 'owned-clusters',
    everyMs: config.nodeSweepIntervalMs,
    run: (clusterIds) =>
      sweepUnreachable(
        { findStale: (cutoff, ids) => nodes.findStale(cutoff, ids), markUnreachable: (nodeId) => nodes.markUnreachable(nodeId), flushLastSeen: () => nodes.flushLastSeen() },
        config.nodeUnreachableAfterMs,
        clusterIds,
      ),
  });
  scheduler.add({ name: 'channels.prune-dead-instances', scope: 'once-in-fleet', everyMs: config.instanceHeartbeatMs, run: () => channels.pruneDeadInstances() });
  if (config.eventRetentionDays > 0) {
    scheduler.add({ name: 'events.prune', scope: 'once-in-fleet', everyMs: config.eventPruningIntervalMs, run: () => eventRetention.prune() });
  }
  for (const manifest of manifests) {
    for (const [queue, options] of Object.entries(manifest.jobs ?? {})) jobs.register(queue, options);
    for (const [name, subscriber] of Object.entries(manifest.subscribers ?? {})) relay.subscribeDurable(name, subscriber);
    for (const [type, handler] of Object.entries(manifest.frames ?? {})) channels.onFrame(type, handler);
    if (manifest.onConnect) channels.onConnect(manifest.onConnect);
    for (const schedule of manifest.schedules ?? []) scheduler.add(schedule);
  }

  const adminMetrics = new AdminMetricsCollector({
    db,
    registry: nodeMetrics.registry,
    brokerEnabled: broker !== null,
    queues: broker ? [DELIVERY_QUEUE, BROKER_QUEUE] : [DELIVERY_QUEUE],
    instances,
  });

  log.debug({ schedules: scheduler.list() }, 'background schedules');

  await relay.start();
  enrollmentKeys.start();
  await instances.start();
  await nodes.start();
  await channels.start();
  agentHub.start();
  for (const manifest of manifests) await manifest.start?.();
  scheduler.start();
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
    fleet,
    aliases,
    instances,
    nodeMetrics,
    channels,
    agentHub,
    jobs,
    scheduler,
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
      await scheduler.stop();
      await jobs.stop();
      for (const manifest of manifests.slice().reverse()) await manifest.stop?.();
      await agentHub.stop();
      await channels.stop();
      stopConfigRelay();
      await nodes.stop();
      await instances.stop();
      await relay.stop();
    },
  };
}
