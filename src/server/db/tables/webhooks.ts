/** Row types of the webhooks tables (see migration 0008_webhooks); part of the Database interface. */
import type { Selectable } from 'kysely';

export interface WebhooksTable {
  id: string;
  url: string;
  /** JSON array of event types, in the order the operator gave them. */
  subscribed_events: string;
  /** SecretBox-sealed HMAC key. Never leaves the service except into a signature. */
  secret_enc: string;
  /** SecretBox-sealed JSON object of extra request headers (`{}` when none). */
  headers_enc: string;
  inserted_at: string;
  updated_at: string;
}

/** One row per (webhook, distinct subscribed type): what fan-out and the `event_type` filter query. */
export interface WebhookEventsTable {
  webhook_id: string;
  event_type: string;
}

/** Where the event broker's history ends (see events/broker/broker-relay.ts); one row. */
export interface EventBrokerHistoryTable {
  name: string;
  last_seq: number;
}

export interface WebhookTables {
  webhooks: WebhooksTable;
  webhook_events: WebhookEventsTable;
  event_broker_history: EventBrokerHistoryTable;
}

export type WebhookRow = Selectable<WebhooksTable>;
