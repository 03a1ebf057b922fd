/**
 * UsageAccountant: turns the core's reset-on-read counters into per-minute UsageEntryDto rows,
 * outbound deltas and online/offline session events, and hands every poll to the journal at once.
 *
 * - Each poll: QueryStats `user>>>` and `outbound>>>` with reset. The values are the traffic since
 *   the previous read, so a core restart (counters back at 0) or an agent restart (the next read
 *   starts where the last one reset) never counts a byte twice. Bytes are lost only when the core
 *   dies between two reads (up to one stats interval of traffic) or the agent dies between a read and
 *   the journal write (milliseconds); the controller reads the counters before every deliberate stop.
 * - Attribution (specs/core-node.md §2.3, §4.4): email `<linkUuid>@np-<nodeProtocolId>` →
 *   clientMap[linkUuid] = {userId, subscriptionId}. Emails in another shape are looked up in the
 *   applied config (inbound tag `np-<id>` gives the nodeProtocolId, the email itself the link). The
 *   previous clientMap stays usable until the next change, so traffic of a link removed by a new
 *   revision and read after the apply is still attributed.
 * - Sessions: V2Ray 4.34 has no online stats, so presence is derived from traffic: a user
 *   (userId, protocol) with traffic in a poll goes `online` unless already online; one without
 *   traffic for `offlineAfterMs` (2 min) goes `offline`, stamped with its last active poll. A
 *   long-lived idle connection therefore counts as offline, and a session shorter than one poll
 *   interval with no bytes is never seen.
 */
import type { Logger } from 'pino';
import type { ClientRef, VpnProtocol } from '../../contract/core-node/config.ts';
import type { OutboundUsageItem, SessionEventEntry, UsageEntry } from '../../contract/core-node/ingest.ts';
import { VPN_PROTOCOLS } from './wire.ts';
import type { StatsClient } from '../proxy-core/grpc-api.ts';
import type { OnlineState, PushJournal } from './journal.ts';
import { API_TAG, type XrayConfig } from '../proxy-core/xray-config.ts';

export type ClientMap = Record<string, ClientRef>;

export interface AccountantOptions {
  journal: PushJournal;
  logger: Logger;
  /** The running core's stats client (null while none runs). */
  stats: () => StatsClient | null;
  /** 10 s */
  intervalMs?: number;
  /** 120 s */
  offlineAfterMs?: number;
  now?: () => number;
}

interface Attribution {
  /** lowercased linkUuid → entry */
  links: Map<string, ClientRef>;
  /** lowercased email → inbound facts, from the applied config */
  emails: Map<string, { nodeProtocolId: number | null; protocol: string }>;
  /** nodeProtocolId → inbound protocol */
  protocols: Map<number, string>;
}

const EMPTY: Attribution = { links: new Map(), emails: new Map(), protocols: new Map() };
const USER = /^user>>>(.+)>>>traffic>>>(uplink|downlink)$/;
const OUTBOUND = /^outbound>>>(.+)>>>traffic>>>(uplink|downlink)$/;
const EMAIL = /^(.+)@np-(\d+)$/;

export class UsageAccountant {
  private current: Attribution = EMPTY;
  private previous: Attribution = EMPTY;
  private online: OnlineState;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly warned = new Set<string>();
  /** Bytes read that no clientMap could attribute (logged once per email). */
  unattributedBytes = 0;

  constructor(private readonly options: AccountantOptions) {
    this.now = options.now ?? Date.now;
    this.log = options.logger;
    this.online = options.journal.online;
  }

  /** The applied revision's clientMap and xray config; the one before stays as a fallback. */
  setAttribution(clientMap: ClientMap, xray: XrayConfig | null): void {
    this.previous = this.current;
    this.current = buildAttribution(clientMap, xray);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(
      () => void this.poll().catch((error) => this.log.warn({ err: (error as Error).message }, 'stats poll failed')),
      this.options.intervalMs ?? 10_000,
    );
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.polling?.catch(() => {});
  }

  /**
   * One read-with-reset of `stats` (default: the running core), persisted in the journal before
   * it resolves. Single-flight: a poll asked for while one runs waits for it and then runs again,
   * so "read everything up to now" holds for the caller.
   */
  async poll(stats?: StatsClient): Promise<void> {
    while (this.polling) await this.polling.catch(() => {});
    const client = stats ?? this.options.stats();
    if (!client) return this.expireOnly();
    this.polling = this.pollWith(client).finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private async pollWith(stats: StatsClient): Promise<void> {
    const users = await stats.queryStats('user>>>', true);
    const outbounds = await stats.queryStats('outbound>>>', true).catch((error) => {
      // The user deltas are already reset in the core: they must reach the journal regardless.
      this.log.warn({ err: (error as Error).message }, 'outbound stats read failed');
      return [];
    });
    const now = this.now();
    const recordedAt = new Date(Math.floor(now / 60_000) * 60_000).toISOString();

    const usage = new Map<string, UsageEntry>();
    const active = new Map<string, { userId: number; protocol: VpnProtocol }>();
    for (const { name, value } of users) {
      if (!value) continue;
      const m = USER.exec(name);
      if (!m) continue;
      const who = this.resolve(m[1]!);
      if (!who) {
        this.unattributedBytes += value;
        continue;
      }
      const key = `${who.nodeProtocolId}|${who.userId}|${who.subscriptionId ?? ''}`;
      const entry = usage.get(key) ?? {
        userId: who.userId,
        subscriptionId: who.subscriptionId,
        nodeProtocolId: who.nodeProtocolId,
        bytesUp: 0,
        bytesDown: 0,
        recordedAt,
      };
      if (m[2] === 'uplink') entry.bytesUp += value;
      else entry.bytesDown += value;
      usage.set(key, entry);
      if (who.protocol) active.set(`${who.userId}/${who.protocol}`, { userId: who.userId, protocol: who.protocol });
    }

    const outbound = new Map<string, OutboundUsageItem>();
    for (const { name, value } of outbounds) {
      if (!value) continue;
      const m = OUTBOUND.exec(name);
      if (!m || m[1] === API_TAG) continue;
      const item = outbound.get(m[1]!) ?? { tag: m[1]!, bytesUp: 0, bytesDown: 0 };
      if (m[2] === 'uplink') item.bytesUp += value;
      else item.bytesDown += value;
      outbound.set(m[1]!, item);
    }

    const events = this.sessions(active, now);
    await this.options.journal.record({ usage: [...usage.values()], outbound: [...outbound.values()], events, online: this.online });
  }

  /** Without a core, nobody has traffic: sessions still time out. */
  private async expireOnly(): Promise<void> {
    const events = this.sessions(new Map(), this.now());
    if (events.length) await this.options.journal.record({ usage: [], outbound: [], events, online: this.online });
  }

  private sessions(active: Map<string, { userId: number; protocol: VpnProtocol }>, now: number): SessionEventEntry[] {
    const events: SessionEventEntry[] = [];
    const online = { ...this.online };
    for (const [key, who] of active) {
      const state = online[key];
      if (state) {
        online[key] = { ...state, lastActive: now };
      } else {
        online[key] = { userId: who.userId, protocol: who.protocol, since: now, lastActive: now };
        events.push({ userId: who.userId, protocol: who.protocol, eventType: 'online', occurredAt: new Date(now).toISOString() });
      }
    }
    const offlineAfter = this.options.offlineAfterMs ?? 120_000;
    for (const [key, state] of Object.entries(online)) {
      if (now - state.lastActive < offlineAfter) continue;
      delete online[key];
      events.push({ userId: state.userId, protocol: state.protocol, eventType: 'offline', occurredAt: new Date(state.lastActive).toISOString() });
    }
    this.online = online;
    return events;
  }

  private resolve(email: string): (ClientRef & { nodeProtocolId: number; protocol: VpnProtocol | null }) | null {
    const lower = email.toLowerCase();
    for (const attribution of [this.current, this.previous]) {
      const m = EMAIL.exec(lower);
      const link = m ? m[1]! : lower;
      const entry = attribution.links.get(link);
      if (!entry) continue;
      const fromConfig = attribution.emails.get(lower);
      const nodeProtocolId = m ? Number(m[2]) : (fromConfig?.nodeProtocolId ?? null);
      if (nodeProtocolId === null) continue;
      const protocol = fromConfig?.protocol ?? attribution.protocols.get(nodeProtocolId) ?? this.current.protocols.get(nodeProtocolId);
      return { ...entry, nodeProtocolId, protocol: protocol && VPN_PROTOCOLS.has(protocol) ? (protocol as VpnProtocol) : null };
    }
    if (!this.warned.has(lower)) {
      this.warned.add(lower);
      this.log.warn({ email }, 'traffic for an email no clientMap knows; not reported');
    }
    return null;
  }
}

function buildAttribution(clientMap: ClientMap, xray: XrayConfig | null): Attribution {
  const links = new Map<string, ClientRef>();
  for (const [link, entry] of Object.entries(clientMap ?? {})) {
    if (entry && Number.isInteger(entry.userId)) links.set(link.toLowerCase(), { userId: entry.userId, subscriptionId: entry.subscriptionId ?? null });
  }
  const emails = new Map<string, { nodeProtocolId: number | null; protocol: string }>();
  const protocols = new Map<number, string>();
  for (const inbound of Array.isArray(xray?.inbounds) ? xray.inbounds : []) {
    const tag = typeof inbound.tag === 'string' ? inbound.tag : '';
    const id = /^np-(\d+)$/.exec(tag);
    const nodeProtocolId = id ? Number(id[1]) : null;
    const protocol = String(inbound.protocol);
    if (nodeProtocolId !== null) protocols.set(nodeProtocolId, protocol);
    const settings = (inbound.settings ?? {}) as { clients?: Array<{ email?: unknown }>; email?: unknown };
    const list = [...(Array.isArray(settings.clients) ? settings.clients : []), settings];
    for (const client of list) {
      if (typeof client?.email === 'string' && client.email) emails.set(client.email.toLowerCase(), { nodeProtocolId, protocol });
    }
  }
  return { links, emails, protocols };
}
