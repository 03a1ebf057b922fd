/**
 * What a module's factory (`modules/<noun>/<noun>.module.ts`) returns: its services and everything
 * it needs run in the background, as data. Factories have no side effects; the composition root
 * (context.ts) registers all of it in one place and owns start and stop.
 */
import type { DurableSubscriber } from './events/relay.ts';
import type { QueueOptions } from './jobs/job-queue.ts';
import type { Schedule } from './jobs/scheduler.ts';

/** A frame a node's agent sent over its live channel, by frame `type`. */
export type StreamFrameHandler = (nodeId: string, frame: Record<string, unknown>) => void;

export interface ModuleManifest<S> {
  services: S;
  /** Job queue name → its handler and limits. */
  jobs?: Record<string, QueueOptions<any>>;
  /** Durable relay subscriber name → handler, run in the transaction that advances its cursor. */
  subscribers?: Record<string, DurableSubscriber>;
  /** Agent stream frame type → handler. */
  frames?: Record<string, StreamFrameHandler>;
  /** Called whenever a node's agent channel opens on this instance. */
  onConnect?: (nodeId: string) => void;
  schedules?: Schedule[];
  /** Resources held outside the database (broker connection, HTTP agents, waiting requests). */
  start?(): Promise<void>;
  stop?(): Promise<void>;
}
