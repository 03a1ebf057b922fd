import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { type Filter, type ListInput, type Page, paginate, textFilter, timestampFilters } from '../../db/listing.ts';
import type { WebhookRow } from '../../db/tables/webhooks.ts';

type Db = Kysely<Database>;

/** What lists and GETs may see: never the sealed columns. */
export type PublicWebhookRow = Pick<WebhookRow, 'id' | 'url' | 'subscribed_events' | 'inserted_at' | 'updated_at'>;

const PUBLIC_COLUMNS = ['webhooks.id', 'webhooks.url', 'webhooks.subscribed_events', 'webhooks.inserted_at', 'webhooks.updated_at'] as const;

export const DELIVERY_QUEUE = 'webhook_delivery';

/** Dedupe key of the delivery of one event to one webhook; its prefix finds a webhook's jobs. */
export const deliveryKey = (webhookId: string, eventId: string) => `${webhookId}:${eventId}`;

const filters: Record<string, Filter> = {
  url: textFilter('webhooks.url'),
  // Membership in subscribed_events, inside the query so total_count and pages agree (§4.5).
  event_type: (eb, value: string) =>
    eb.exists(
      eb
        .selectFrom('webhook_events')
        .select(sql.lit(1).as('one'))
        .whereRef('webhook_events.webhook_id', '=', 'webhooks.id')
        .where('webhook_events.event_type', '=', value),
    ),
  ...timestampFilters('webhooks'),
};

export const webhookRepo = {
  async insert(db: Db, row: WebhookRow, eventTypes: string[]): Promise<void> {
    await db.insertInto('webhooks').values(row).execute();
    await db
      .insertInto('webhook_events')
      .values([...new Set(eventTypes)].map((event_type) => ({ webhook_id: row.id, event_type })))
      .execute();
  },

  findPublic(db: Db, id: string): Promise<PublicWebhookRow | undefined> {
    return db.selectFrom('webhooks').select(PUBLIC_COLUMNS).where('id', '=', id).executeTakeFirst();
  },

  /** The full row, sealed secret and headers included: for delivery only. */
  findSealed(db: Db, id: string): Promise<WebhookRow | undefined> {
    return db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
  },

  list(db: Db, input: ListInput): Promise<Page<PublicWebhookRow>> {
    return paginate(db.selectFrom('webhooks').select(PUBLIC_COLUMNS), input, {
      filters,
      sortable: { url: 'webhooks.url', inserted_at: 'webhooks.inserted_at', updated_at: 'webhooks.updated_at' },
      tieBreaker: 'webhooks.id',
    });
  },

  /** Webhook ids subscribed to each of `types`. */
  async subscribers(db: Db, types: string[]): Promise<Map<string, string[]>> {
    const byType = new Map<string, string[]>();
    if (types.length === 0) return byType;
    const rows = await db.selectFrom('webhook_events').select(['webhook_id', 'event_type']).where('event_type', 'in', types).orderBy('webhook_id').execute();
    for (const row of rows) byType.set(row.event_type, [...(byType.get(row.event_type) ?? []), row.webhook_id]);
    return byType;
  },

  /** Deletes the webhook and every delivery job it still has (pending or dead). */
  async delete(db: Db, id: string): Promise<boolean> {
    const result = await db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
    await db.deleteFrom('jobs').where('queue', '=', DELIVERY_QUEUE).where('dedupe_key', 'like', `${id}:%`).execute();
    return Number(result.numDeletedRows) > 0;
  },
};
