/**
 * The agent's own Prometheus registry (pushed as `metrics_type: "agent"`). Names come from
 * src/contract/agent-metrics.ts; prom-client's default metrics provide the process_* / nodejs_*
 * series the control plane maps onto the contract's `application` block. A private registry (not
 * prom-client's global one) keeps several agents in one test process apart.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { AGENT_METRICS } from '../../contract/agent-metrics.ts';

export class AgentMetrics {
  readonly registry = new Registry();
  readonly commandsSynced: Counter;
  readonly commandsEnqueued: Counter;
  readonly commandsCompleted: Counter;
  readonly commandsReported: Counter;
  readonly discoveryScans: Counter;
  readonly discoveryAdminsFound: Gauge;
  /** Health reports sent over HTTP (the fallback path), as the contract's health_check block counts. */
  readonly healthReports: Counter;
  readonly proxyBytesUp: Counter;
  readonly proxyBytesDown: Counter;
  readonly proxyHttpConnections: Counter;
  readonly proxySocks5Connections: Counter;
  readonly sshAuthentications: Counter;
  readonly sshConnections: Counter;
  readonly vpnPulls: Counter;
  readonly jobs: Gauge<'queue' | 'state'>;

  constructor(startedAt: number = Date.now()) {
    const registers = [this.registry];
    const counter = (name: string, help: string) => new Counter({ name, help, registers });
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: AGENT_METRICS.uptimeSeconds,
      help: 'Seconds since the agent started.',
      registers,
      collect() {
        this.set(Math.floor((Date.now() - startedAt) / 1000));
      },
    });
    this.commandsSynced = counter(AGENT_METRICS.commandsSynced, 'Executions fetched from the control plane.');
    this.commandsEnqueued = counter(AGENT_METRICS.commandsEnqueued, 'Executions queued to run.');
    this.commandsCompleted = counter(AGENT_METRICS.commandsCompleted, 'Executions that finished running.');
    this.commandsReported = counter(AGENT_METRICS.commandsReported, 'Execution results reported to the control plane.');
    this.discoveryScans = counter(AGENT_METRICS.discoveryScans, 'Control-plane discovery scans.');
    this.discoveryAdminsFound = new Gauge({ name: AGENT_METRICS.discoveryAdminsFound, help: 'Control planes found by the last scan.', registers });
    this.healthReports = counter(AGENT_METRICS.healthReports, 'Health reports sent over the HTTP fallback.');
    this.proxyBytesUp = counter(AGENT_METRICS.proxyBytesUp, 'Bytes proxied from clients to targets.');
    this.proxyBytesDown = counter(AGENT_METRICS.proxyBytesDown, 'Bytes proxied from targets to clients.');
    this.proxyHttpConnections = counter(AGENT_METRICS.proxyHttpConnections, 'HTTP proxy connections accepted.');
    this.proxySocks5Connections = counter(AGENT_METRICS.proxySocks5Connections, 'SOCKS5 proxy connections accepted.');
    this.sshAuthentications = counter(AGENT_METRICS.sshAuthentications, 'Successful SSH authentications.');
    this.sshConnections = counter(AGENT_METRICS.sshConnections, 'SSH connections accepted.');
    this.vpnPulls = counter(AGENT_METRICS.vpnPulls, 'VPN configuration pulls.');
    this.jobs = new Gauge({ name: AGENT_METRICS.jobs, help: 'Agent jobs by queue and state.', labelNames: ['queue', 'state'], registers });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
