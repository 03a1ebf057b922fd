/** POST /api/v1/agents/metrics/push (edge-admin spec §6.5): an agent's latest Prometheus snapshot. */
import { Type, type Static } from 'typebox';
import { Timestamp, Uuid } from '../types.ts';

export const METRICS_TYPES = ['host', 'agent', 'wireguard'] as const;
export type MetricsType = (typeof METRICS_TYPES)[number];

/** A node_exporter page is ~100–300 KiB; 1 MiB leaves room while bounding what one node can store. */
export const MAX_METRICS_TEXT = 1024 * 1024;

/** Open to unknown fields, so a newer agent that sends more still gets its snapshot stored. */
export const MetricsPushRequest = Type.Object({
  metrics_type: Type.Enum([...METRICS_TYPES]),
  // NUL never occurs in exposition text and Postgres cannot store it in a text column.
  metrics_text: Type.String({ maxLength: MAX_METRICS_TEXT, pattern: '^[^\\u0000]*$' }),
});
export type MetricsPushRequest = Static<typeof MetricsPushRequest>;

/** `id` is the snapshot row's: minted on the first push of a (node, type) and kept by later pushes. */
export const MetricsPushResult = Type.Object({
  id: Uuid,
  node_id: Uuid,
  metrics_type: Type.Enum([...METRICS_TYPES]),
  updated_at: Timestamp,
});
export type MetricsPushResult = Static<typeof MetricsPushResult>;
