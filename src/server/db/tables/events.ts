/** Row types of the event outbox and its consumers' positions. */
import type { Generated } from 'kysely';

/** The outbox: events committed with the change that caused them, relayed in `seq` order. */
export interface EventsTable {
  seq: Generated<number>;
  id: string;
  type: string;
  time: string;
  envelope: string;
}

/** How far each durable consumer of the outbox has got; advanced in the consumer's own transaction. */
export interface EventConsumersTable {
  name: string;
  last_seq: number;
}

export interface EventTables {
  events: EventsTable;
  event_consumers: EventConsumersTable;
}
