/**
 * Composition root: the shared parts (outbox, relay, job runner, scheduler, metrics registry, node
 * channels) built by hand, then every module from its factory (`<noun>.module.ts`, the MODULES
 * table), which returns its services and background work; this file registers it all, so reading it
 * top to bottom tells what the server is made of, what runs in the background (BACKGROUND) and in
 * which order it starts and stops (START / STOP).
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
import type { EnrollmentKeyService } from './modules/enrollment-keys/enrollment-key.service.ts';
import { enrollmentKeysModule } from './modules/enrollment-keys/enrollment-keys.module.ts';
import type { NodeService } from './modules/nodes/node.service.ts';
import { nodesModule } from './modules/nodes/nodes.module.ts';
import type { FleetService } from './modules/inventory/fleet.service.ts';
import { inventoryModule } from './modules/inventory/inventory.module.ts';
import type { AliasService } from './modules/aliases/alias.service.ts';
import { aliasesModule } from './modules/aliases/aliases.module.ts';
import type { InstanceService } from './modules/instances/instance.service.ts';
import { instancesModule } from './modules/instances/instances.module.ts';
import { loadInstanceId } from './modules/instances/identity.ts';
import type { NodeMetricsService } from './modules/metrics/node-metrics.service.ts';
import { metricsModule } from './modules/metrics/metrics.module.ts';
import { createServerRegistry } from './modules/metrics/registry.ts';
import { effectiveAdminUrls } from './config.ts';
import { AgentHub, registerAgentHubMetrics } from './faces/agents/agent-hub.ts';
import { ChannelDirectory } from './channels/directory.ts';
import { NodeChannels } from './channels/node-channels.ts';
import { PostgresSignalBus } from './channels/postgres-signal-bus.ts';
import { InProcessSignalBus, type SignalBus } from './channels/signal-bus.ts';
import { instanceRepo } from './modules/instances/instance.repo.ts';
import { relayConfigSignal } from './modules/vpn/config-signal.ts';
import { unreachableThresholdWarning } from './jobs/node-sweep.ts';
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
import { type OperatorServices, operatorsModule } from './modules/operators/operators.module.ts';
import type { AdminMetricsCollector } from './modules/metrics/admin-metrics.ts';
import type { AuditService } from './modules/audit/audit.service.ts';
import { auditModule } from './modules/audit/audit.module.ts';
import type { SettingsService } from './modules/settings/settings.service.ts';
import { settingsModule } from './modules/settings/settings.module.ts';
import { BROKER_QUEUE } from './events/broker/broker-relay.ts';
import { DELIVERY_QUEUE } from './modules/webhooks/webhook.repo.ts';
import type { BackupService } from './modules/backup/backup.service.ts';
import { backupModule } from './modules/backup/backup.module.ts';
import type { DeviceTypesService } from './modules/manager-devices/device-types.service.ts';
import { managerDevicesModule } from './modules/manager-devices/manager-devices.module.ts';
import { tunnelsModule } from './modules/tunnels/tunnels.module.ts';
import type { TunnelService } from './modules/tunnels/tunnel.service.ts';
import { bodyValidator } from './http/validation.ts';
import { type ManagerServices, managerModule } from './modules/manager/manager.module.ts';
import { ManagerNodeHub } from './faces/manager/node-hub.ts';
import { registerManagerHubMetrics } from './faces/manager/hub-metrics.ts';
import { ExportDocument } from '../contract/admin/backup.ts';

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
  operators: OperatorServices;
  audit: AuditService;
  settings: SettingsService;
  backup: BackupService;
  manager: ManagerServices;
  managerHub: ManagerNodeHub;
  deviceTypes: DeviceTypesService;
  tunnels: TunnelService;
  /** Called once the listener is bound; ADMIN_URLS defaults to the bound address. */
  setListeningPort(port: number): void;
  adminUrls(): string[];
  /** Stops background work; the database handle is closed by its owner. */
  stop(): Promise<void>;
}

export async function createContext(config: Config, keys: BootKeys, database: DatabaseHandle, log: Logger): Promise<AppContext> {
  const { db } = database;
  const instanceId = loadInstanceId(config.dataDir);
  const jobs = new JobRunner(
    db,
    500,
    (error, job) => log.warn({ err: error, job: job && { id: job.id, queue: job.queue, attempts: job.attempts } }, 'job failed'),
    instanceId,
  );
  const relay = new EventRelay(
    db,
    1000,
    (error) => log.error({ err: error }, 'event relay failed'),
    () => jobs.kick(),
  );
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
  const naming = new Naming(config.vpnDomain);
  const secrets = new SecretBox(keys.dataKey);
  // The server's own Prometheus registry (GET /metrics): the hub, webhooks and metrics count into it.
  const registry = createServerRegistry();
  let listeningPort = config.port;
  const adminUrls = () => effectiveAdminUrls(config, listeningPort);

  // Node channels: one seam for every face's live channels, across instances (channels/README.md).
  const liveInstanceIds = async () => (await instanceRepo.live(db, new Date(Date.now() - config.instanceTtlMs).toISOString())).map((row) => row.id);
  const onSignalError = (error: unknown, topic: string) => log.error({ err: error, topic }, 'signal bus failed');
  const bus: SignalBus = database.postgresUrl
    ? new PostgresSignalBus(instanceId, db, database.postgresUrl, onSignalError)
    : new InProcessSignalBus(instanceId, onSignalError);
  const channels = new NodeChannels({
    bus,
    directory: new ChannelDirectory(db, instanceId, (error) => log.error({ err: error }, 'node channel directory write failed')),
    log,
    liveInstanceIds,
  });
  const stopConfigRelay = relayConfigSignal(bus, (error) => log.error({ err: error }, 'relaying a config change failed'));
  // Settings first: retention, the node sweep and the agent hub read them.
  const settingsM = settingsModule({ db, bus, onError: (error) => log.error({ err: error }, 'reading the settings failed'), config });
  const { settings } = settingsM.services;
  const eventRetention = new EventRetention(db, () => settings.eventRetentionDays());
  const auditM = auditModule({ db, outbox, retentionDays: () => settings.eventRetentionDays(), log, config });
  const { audit } = auditM.services;

  // ── MODULES ── one factory each (`modules/<noun>/<noun>.module.ts`), in dependency order; what
  // they return is registered in one loop below (BACKGROUND) and started and stopped at the end.
  const clustersM = clustersModule({ db, naming, config });
  const { clusters } = clustersM.services;
  const enrollmentKeysM = enrollmentKeysModule({ db, outbox, clusters, adminUrls, log, config });
  const { enrollmentKeys } = enrollmentKeysM.services;
  const nodesM = nodesModule({ db, outbox, naming, secrets, adminUrls, log, unreachableAfterMs: () => settings.nodeUnreachableAfterMs(), config });
  const { nodes } = nodesM.services;
  const aliasesM = aliasesModule({ db, naming });
  const { aliases } = aliasesM.services;
  const instancesM = instancesModule({ db, log, config });
  const { instances } = instancesM.services;
  const commandsM = commandsModule({ db, outbox, channels, log, config });
  const { commands } = commandsM.services;
  const sshM = sshModule({ db, outbox });
  const { ssh } = sshM.services;
  const selfUpdatesM = selfUpdatesModule({ db, outbox, channels, log, config });
  const { selfUpdates } = selfUpdatesM.services;
  const webhooksM = webhooksModule({ db, secrets, log, registry, config });
  const { webhooks, broker } = webhooksM.services;
  const vpnM = vpnModule({ db, outbox, ingestOutbox, secrets, config });
  const { vpn, coreNodes, usage } = vpnM.services;
  const managerDevicesM = managerDevicesModule();
  const { deviceTypes } = managerDevicesM.services;
  const managerM = managerModule({
    db,
    outbox,
    secrets,
    instanceId,
    onError: (error) => log.error({ err: error }, 'manager node write failed'),
    retentionDays: () => settings.eventRetentionDays(),
    statsSampleMs: config.managerStatsSampleMs,
    closeSession: (nodeId) => channels.revoke(nodeId),
    channels,
    deviceTypes,
    commandTimeoutMs: config.managerCommandTimeoutMs,
    offlineAfterMs: () => settings.nodeUnreachableAfterMs(),
    liveInstanceIds,
    sweepEveryMs: config.instanceHeartbeatMs,
  });
  const manager = managerM.services;
  const inventoryM = inventoryModule({
    db,
    deleters: {
      'edge-agent': (principal, id) => nodes.delete(principal, id),
      core: (principal, id) => vpn.nodes.delete(principal, id),
      'manager-edge': (principal, id) => manager.nodes.delete(principal, id),
      'manager-relay': (principal, id) => manager.nodes.delete(principal, id),
    },
  });
  const { fleet } = inventoryM.services;
  const metricsM = metricsModule({
    db,
    registry,
    instances,
    brokerEnabled: broker !== null,
    queues: broker ? [DELIVERY_QUEUE, BROKER_QUEUE] : [DELIVERY_QUEUE],
  });
  const { nodeMetrics, adminMetrics } = metricsM.services;
  const operatorsM = operatorsModule({ db, policy: () => settings.policy() });
  const operators = operatorsM.services;
  const backupM = backupModule({
    db,
    outbox,
    secrets,
    validateDocument: bodyValidator<ExportDocument>(ExportDocument),
    settings: { list: (from) => settings.exportPairs(from), restore: (trx, pairs, dryRun) => settings.restorePairs(trx, pairs, dryRun) },
    audit: { recent: (from, limit) => audit.recent(from, limit) },
  });
  const { backup } = backupM.services;
  const tunnelsM = tunnelsModule({ db, outbox, secrets, fleet, send: (nodeId, action) => manager.commands.send(nodeId, action) });
  const { tunnels } = tunnelsM.services;
  const manifests: ModuleManifest<unknown>[] = [
    settingsM,
    auditM,
    clustersM,
    enrollmentKeysM,
    nodesM,
    aliasesM,
    instancesM,
    commandsM,
    sshM,
    selfUpdatesM,
    webhooksM,
    vpnM,
    inventoryM,
    metricsM,
    operatorsM,
    backupM,
    managerM,
    managerDevicesM,
    tunnelsM,
  ];

  // Edge agents over their channels: revoking a node's token closes its channel wherever it lives.
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
  registerAgentHubMetrics(registry, agentHub);
  // Manager nodes (bilbycast edges and relays) on /ws/node: keepalive and silence from the settings.
  const managerHub = new ManagerNodeHub(manager.sessions, channels, log, {
    authTimeoutMs: config.managerAuthTimeoutMs,
    pingIntervalMs: () => settings.agentPingIntervalMs(),
    offlineAfterMs: () => settings.nodeUnreachableAfterMs(),
    metrics: registerManagerHubMetrics(registry, () => managerHub.size),
  });
  // A manager node's tunnel legs follow its session: pushed when it connects, pending once it is gone.
  channels.onConnect((nodeId) => {
    if (managerHub.holds(nodeId)) tunnels.nodeConnected(nodeId).catch((error) => log.error({ err: error, nodeId }, 'pushing tunnel legs failed'));
  });
  managerHub.onClosed(async (nodeId) => {
    manager.commands.forget(nodeId);
    await tunnels.nodeDisconnected(nodeId);
  });
  settings.onChange(() => {
    agentHub.setPingInterval(settings.agentPingIntervalMs());
    managerHub.retime();
  });
  const thresholdWarning = unreachableThresholdWarning(config.nodeUnreachableAfterMs, config.agentPingIntervalMs);
  if (thresholdWarning) log.warn(thresholdWarning);

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
  //   nodes         sweep-unreachable (owned clusters)
  //   commands      queue execution_creation · on agent connect: push pending executions
  //                 expire-executions (owned clusters) · expire-orphaned-executions, prune-executions (once in fleet)
  //   self-updates  queue self_updates · frame self_update_result (acks answer channel requests)
  //   webhooks      subscribers webhooks (+ broker) · queues webhook_delivery (+ event_broker)
  //   vpn           sweep-subscriptions, sweep-offline-core-nodes, prune-ingest-batch-keys (once in fleet)
  //   operators     prune-logins-and-sessions (once in fleet)
  //   settings      refresh (every instance; the fallback for lost change signals)
  //   manager       on start and stop: the node sessions this instance held end (those nodes go offline)
  //                 sweep-orphaned-sessions (once in fleet): nodes a dead instance held go offline
  // plus the root's own passes right here (channel directory pruning, outbox and audit retention), and
  // per-instance loops that are not periodic passes, run by start()/stop() (START / STOP below):
  // the job runner and event relay (workers), the instances heartbeat (the membership lease),
  // the agent hub's and the manager hub's pings (per connection), the nodes' last-seen, the enrollment keys'
  // failed-verification and the audit's refusal tallies (per buffer), the metrics' event-loop monitor.
  scheduler.add({
    name: 'channels.prune-dead-instances',
    scope: 'once-in-fleet',
    everyMs: config.instanceHeartbeatMs,
    run: () => channels.pruneDeadInstances(),
  });
  // Always scheduled: an operator may set a retention while EVENT_RETENTION_DAYS=0 keeps everything.
  scheduler.add({
    name: 'events.prune',
    scope: 'once-in-fleet',
    everyMs: config.eventPruningIntervalMs,
    run: async () => {
      await eventRetention.prune();
      await audit.prune();
      await manager.events.prune();
    },
  });
  for (const manifest of manifests) {
    for (const [queue, options] of Object.entries(manifest.jobs ?? {})) jobs.register(queue, options);
    for (const [name, subscriber] of Object.entries(manifest.subscribers ?? {})) relay.subscribeDurable(name, subscriber);
    for (const [type, handler] of Object.entries(manifest.frames ?? {})) channels.onFrame(type, handler);
    if (manifest.onConnect) channels.onConnect(manifest.onConnect);
    for (const schedule of manifest.schedules ?? []) scheduler.add(schedule);
  }

  log.debug({ schedules: scheduler.list() }, 'background schedules');

  // ── START / STOP ── order matters, and stop is not start reversed:
  //   start  relay → settings (the cache the hub, the sweeps and retention read) → the modules the
  //          channels stand on: enrollment-keys (failed-verification buffer),
  //          instances (the membership lease every owned-clusters pass needs), nodes (last-seen
  //          buffer) → channels, hub → the other modules → scheduler → job runner
  //   stop   enrollment-keys and audit first (their last tallies are recorded while the relay and the
  //          job runner still run) → scheduler, job runner → the other modules, reversed → hub, channels →
  //          nodes (flushes what the closing channels touched last) → instances (leaves the
  //          membership) → relay
  const beforeChannels: ModuleManifest<unknown>[] = [settingsM, enrollmentKeysM, instancesM, nodesM];
  const afterChannels = manifests.filter((manifest) => !beforeChannels.includes(manifest));
  const stoppedFirst: ModuleManifest<unknown>[] = [enrollmentKeysM, auditM];
  await relay.start();
  for (const manifest of beforeChannels) await manifest.start?.();
  await channels.start();
  agentHub.start();
  managerHub.start();
  for (const manifest of afterChannels) await manifest.start?.();
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
    operators,
    audit,
    settings,
    backup,
    manager,
    managerHub,
    deviceTypes,
    tunnels,
    setListeningPort(port) {
      listeningPort = port;
    },
    adminUrls,
    async stop() {
      for (const manifest of stoppedFirst) await manifest.stop?.();
      await scheduler.stop();
      await jobs.stop();
      for (const manifest of afterChannels.slice().reverse()) if (!stoppedFirst.includes(manifest)) await manifest.stop?.();
      await managerHub.stop();
      await agentHub.stop();
      await channels.stop();
      stopConfigRelay();
      await nodesM.stop?.();
      await instancesM.stop?.();
      await relay.stop();
    },
  };
}
