/**
 * Webhooks (edge-admin spec §11.3–11.4): immutable subscriptions with sealed secrets and headers,
 * and their delivery. The durable relay subscriber `webhooks` turns each committed event into one
 * delivery job per subscribed webhook, in the transaction that advances its cursor, so every
 * (webhook × event) gets exactly one job across all instances and a crash loses none. The job
 * handler re-reads the webhook on every attempt, so a deleted webhook stops its deliveries.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Webhook, WebhookCreateRequest, WebhookListQuery } from '../../../contract/admin/webhooks.ts';
import type { Database } from '../../db/schema.ts';
import type { Page } from '../../db/listing.ts';
import { isEventType } from '../../events/catalog.ts';
import type { StoredEvent } from '../../events/relay.ts';
import { NotFoundError, ValidationError } from '../../errors.ts';
import { DropJob, enqueueMany, type Job, PermanentJobError } from '../../jobs/job-queue.ts';
import type { SecretBox } from '../../lib/secrets.ts';
import { uuidv7 } from '../../lib/ids.ts';
import { nowIso, toSecondPrecision } from '../../lib/time.ts';
import { classifyStatus, SIGNATURE_HEADER, type WebhookSender } from './delivery.ts';
import type { DeliveryOutcome, WebhookMetrics } from './metrics.ts';
import { type SsrfGuard, SsrfRefusedError } from './ssrf.ts';
import { DELIVERY_QUEUE, deliveryKey, type PublicWebhookRow, webhookRepo } from './webhook.repo.ts';

export interface WebhookDeps {
  db: Kysely<Database>;
  secrets: SecretBox;
  ssrf: SsrfGuard;
  metrics: WebhookMetrics;
  sender: WebhookSender;
  config: { webhookMaxAttempts: number; webhookTimeoutMs: number; eventDeliveryMaxAgeSeconds: number };
}

export interface DeliveryPayload {
  webhook_id: string;
  event_id: string;
  event_type: string;
  /** The envelope exactly as written to the outbox: the bytes that are signed and sent. */
  raw: string;
}

/** Names the delivery sets itself, or that would break the request's framing if overridden. */
const RESERVED_HEADERS = new Set([
  'content-type',
  SIGNATURE_HEADER,
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
  'expect',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Visible ASCII, spaces, tabs and obs-text; no CR, LF, NUL or other controls (header injection).
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CONTROL_OR_SPACE = /[\s\x00-\x1f\x7f]/;

/** About 15 s + 2^attempt s with up to +10 % jitter at the default base (Oban's default, §11.3). */
export function retryDelayMs(attempt: number, baseMs: number): number {
  const delay = baseMs + 2 ** attempt * (baseMs / 15);
  return Math.round(delay * (1 + Math.random() * 0.1));
}

export class WebhookService {
  readonly ssrf: SsrfGuard;
  readonly metrics: WebhookMetrics;
  private readonly sender: WebhookSender;

  constructor(readonly deps: WebhookDeps) {
    this.ssrf = deps.ssrf;
    this.metrics = deps.metrics;
    this.sender = deps.sender;
  }

  async create(input: WebhookCreateRequest): Promise<Webhook> {
    const errors: Record<string, string[]> = {};
    const add = (field: string, message: string) => (errors[field] ??= []).push(message);

    const url = this.parseUrl(input.url, (message) => add('url', message));
    if (Buffer.byteLength(input.secret, 'utf8') < 32) add('secret', 'should be at least 32 byte(s)');
    const headers = input.headers ?? {};
    const seen = new Set<string>();
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      if (!HEADER_NAME.test(name)) add('headers', `${JSON.stringify(name)} is not a valid header name`);
      else if (RESERVED_HEADERS.has(lower)) add('headers', `${name} cannot be set: the delivery sets it`);
      else if (seen.has(lower)) add('headers', `${name} is given more than once`);
      if (!HEADER_VALUE.test(value)) add('headers', `value of ${name} contains characters not allowed in a header`);
      seen.add(lower);
    }
    const unknown = [...new Set(input.subscribed_events.filter((type) => !isEventType(type)))];
    if (unknown.length > 0) add('subscribed_events', `unknown event type(s): ${unknown.join(', ')}`);
    if (url) {
      const refusal = await this.ssrf.refusal(url);
      if (refusal) add('url', refusal);
    }
    if (Object.keys(errors).length > 0) throw new ValidationError(errors);

    const now = nowIso();
    const row = {
      id: uuidv7(),
      url: input.url,
      subscribed_events: JSON.stringify(input.subscribed_events),
      secret_enc: this.deps.secrets.seal(input.secret),
      headers_enc: this.deps.secrets.seal(JSON.stringify(headers)),
      inserted_at: now,
      updated_at: now,
    };
    await this.deps.db.transaction().execute((trx) => webhookRepo.insert(trx, row, input.subscribed_events));
    return render(row);
  }

  async get(id: string): Promise<Webhook> {
    const row = await webhookRepo.findPublic(this.deps.db, id);
    if (!row) throw new NotFoundError('Webhook');
    return render(row);
  }

  async list(query: WebhookListQuery): Promise<Page<Webhook>> {
    const page = await webhookRepo.list(this.deps.db, query);
    return { items: page.items.map(render), pagination: page.pagination };
  }

  /** Deletes the webhook and cancels its pending deliveries in one transaction. */
  async delete(id: string): Promise<void> {
    const deleted = await this.deps.db.transaction().execute((trx) => webhookRepo.delete(trx, id));
    if (!deleted) throw new NotFoundError('Webhook');
  }

  private parseUrl(raw: string, fail: (message: string) => void): URL | null {
    if (CONTROL_OR_SPACE.test(raw)) {
      fail('must not contain whitespace or control characters');
      return null;
    }
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      fail('is not a valid URL');
      return null;
    }
    const problems: string[] = [];
    if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push('scheme must be http or https');
    // `http:///x` parses as host `x`; say what was typed is missing a host instead of guessing.
    if (!url.hostname || !/^https?:\/\/[^/?#]/i.test(raw)) problems.push('must include a host');
    // The raw test as well: the parser drops an empty userinfo (`http://@host/`) without a trace.
    if (url.username || url.password || /^https?:\/\/[^/?#]*@/i.test(raw)) problems.push('URL must not include userinfo (user:pass@host)');
    if (raw.includes('#')) problems.push('URL must not include a fragment');
    problems.forEach(fail);
    return problems.length === 0 ? url : null;
  }

  async fanOut(events: StoredEvent[], trx: Transaction<Database>): Promise<void> {
    this.metrics.fanOuts.inc(events.length);
    const subscribers = await webhookRepo.subscribers(trx, [...new Set(events.map((e) => e.envelope.type))]);
    const jobs = [];
    for (const event of events) {
      for (const webhookId of subscribers.get(event.envelope.type) ?? []) {
        const payload: DeliveryPayload = { webhook_id: webhookId, event_id: event.envelope.id, event_type: event.envelope.type, raw: event.raw };
        jobs.push({ queue: DELIVERY_QUEUE, payload, maxAttempts: this.deps.config.webhookMaxAttempts, dedupeKey: deliveryKey(webhookId, event.envelope.id) });
      }
    }
    // The relay wakes the job runner once this transaction commits.
    await enqueueMany(trx, jobs);
  }

  private count(outcome: DeliveryOutcome): void {
    this.metrics.deliveries.inc({ outcome });
  }

  async deliver(job: Job<DeliveryPayload>): Promise<void> {
    const { config, db, secrets } = this.deps;
    const row = await webhookRepo.findSealed(db, job.payload.webhook_id);
    if (!row) throw new DropJob();
    const maxAgeMs = config.eventDeliveryMaxAgeSeconds * 1000;
    if (maxAgeMs > 0 && Date.now() - Date.parse(job.createdAt) > maxAgeMs) {
      this.metrics.expired.inc();
      throw new DropJob();
    }
    let secret: string;
    let headers: Record<string, string>;
    try {
      secret = secrets.open(row.secret_enc);
      headers = JSON.parse(secrets.open(row.headers_enc)) as Record<string, string>;
    } catch (error) {
      // Sealed under a key this instance does not hold: no retry will change that.
      throw new PermanentJobError(`cannot open the webhook's secret: ${error instanceof Error ? error.message : String(error)}`);
    }
    const url = new URL(row.url);

    let address;
    try {
      address = await this.ssrf.pin(url);
    } catch (error) {
      if (error instanceof SsrfRefusedError) {
        this.count('terminal');
        throw new PermanentJobError(`refused: ${error.message}`);
      }
      this.count('recoverable');
      throw error;
    }

    let status: number;
    try {
      status = await this.sender.post({ url, address, body: Buffer.from(job.payload.raw, 'utf8'), secret, headers, timeoutMs: config.webhookTimeoutMs });
    } catch (error) {
      this.count('recoverable');
      throw new Error(`delivery failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    const outcome = classifyStatus(status);
    this.count(outcome);
    if (outcome === 'ok') {
      this.metrics.jobsCompleted.inc({ queue: DELIVERY_QUEUE });
      return;
    }
    if (outcome === 'recoverable') throw new Error(`receiver answered ${status}`);
    throw new PermanentJobError(`receiver answered ${status}`);
  }
}

function render(row: PublicWebhookRow): Webhook {
  return {
    id: row.id,
    url: row.url,
    subscribed_events: JSON.parse(row.subscribed_events) as string[],
    inserted_at: toSecondPrecision(row.inserted_at),
    updated_at: toSecondPrecision(row.updated_at),
  };
}
