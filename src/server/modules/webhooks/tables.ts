/** Row types of this module's tables (see migration 0008_webhooks); part of the Database interface. */
export interface WebhookTables {}
