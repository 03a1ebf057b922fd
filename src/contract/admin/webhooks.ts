/** Webhook subscriptions (edge-admin spec §3.1, §4.3, §11.3–11.4; contract schemas Webhook*). */
import { Type, type Static } from 'typebox';
import { ListQuery, Timestamp, Uuid } from '../types.ts';

export const Webhook = Type.Object({
  id: Uuid,
  url: Type.String(),
  subscribed_events: Type.Array(Type.String()),
  inserted_at: Timestamp,
  updated_at: Timestamp,
});
export type Webhook = Static<typeof Webhook>;

/** string → string, as the contract spells it (`additionalProperties`, which OpenAPI 3.0 knows). */
export const WebhookHeaders = Type.Unsafe<Record<string, string>>(
  Type.Object({}, { additionalProperties: Type.String({ maxLength: 4096 }), maxProperties: 20 }),
);

export const WebhookCreateRequest = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, pattern: '^https?://.+' }),
    /** HMAC-SHA256 key; write-only. */
    secret: Type.String({ minLength: 32, maxLength: 256 }),
    /** Extra request headers; write-only. */
    headers: Type.Optional(WebhookHeaders),
    subscribed_events: Type.Array(Type.String({ maxLength: 256 }), { minItems: 1, maxItems: 20 }),
  },
  { additionalProperties: false },
);
export type WebhookCreateRequest = Static<typeof WebhookCreateRequest>;

export const WebhookIdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

export const WebhookListQuery = ListQuery({
  url: Type.Optional(Type.String({ maxLength: 2048 })),
  event_type: Type.Optional(Type.String({ maxLength: 256 })),
});
export type WebhookListQuery = Static<typeof WebhookListQuery>;
