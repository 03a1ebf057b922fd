/**
 * The edge node's configuration, schema `version: 2` (manager spec §3): the core fields the manager
 * pre-validates. Objects stay open (unknown keys pass) because the node is authoritative and newer
 * edges add fields; the rules a schema cannot say (references, one active input, per-type required
 * fields, address syntax, duplicate local ports) live in the edge-config validator.
 */
import { Type, type Static } from 'typebox';
import { Nullable } from '../types.ts';

export const INPUT_TYPES = [
  'rtp',
  'udp',
  'srt',
  'rist',
  'rtmp',
  'rtsp',
  'webrtc',
  'whep',
  'st2110_30',
  'st2110_31',
  'st2110_40',
  'st2110_20',
  'st2110_23',
  'rtp_audio',
  'bonded',
  'test_pattern',
  'mosaic',
  'media_player',
  'replay',
  'mxl_video',
  'mxl_audio',
  'mxl_anc',
  'sdi',
] as const;

export const OUTPUT_TYPES = [
  'rtp',
  'udp',
  'srt',
  'rist',
  'rtmp',
  'hls',
  'cmaf',
  'webrtc',
  'st2110_30',
  'st2110_31',
  'st2110_40',
  'st2110_20',
  'st2110_23',
  'rtp_audio',
  'bonded',
  'display',
  'sdi',
  'mxl_video',
  'mxl_audio',
  'mxl_anc',
] as const;

export const EdgeId = Type.String({ minLength: 1, maxLength: 64 });
const EdgeName = Type.String({ minLength: 1, maxLength: 256 });
/** `ip:port` (IPv6 in brackets); the validator checks the syntax, so the message names the field. */
const Address = Type.String({ maxLength: 256 });

/** Address fields the core input and output types use; which are required depends on `type` and `mode`. */
const addressFields = {
  local_addr: Type.Optional(Address),
  remote_addr: Type.Optional(Address),
  bind_addr: Type.Optional(Address),
  dest_addr: Type.Optional(Address),
  interface_addr: Type.Optional(Address),
};

export const InputDefinition = Type.Object({
  id: EdgeId,
  name: EdgeName,
  active: Type.Optional(Type.Boolean()),
  group: Type.Optional(Type.String({ maxLength: 256 })),
  type: Type.Enum([...INPUT_TYPES]),
  mode: Type.Optional(Type.String({ maxLength: 64 })),
  ...addressFields,
});
export type InputDefinition = Static<typeof InputDefinition> & Record<string, unknown>;

export const OutputConfig = Type.Object({
  type: Type.Enum([...OUTPUT_TYPES]),
  id: EdgeId,
  name: EdgeName,
  active: Type.Optional(Type.Boolean()),
  group: Type.Optional(Type.String({ maxLength: 256 })),
  mode: Type.Optional(Type.String({ maxLength: 64 })),
  ...addressFields,
  dscp: Type.Optional(Type.Integer({ minimum: 0, maximum: 63 })),
  dest_url: Type.Optional(Type.String({ maxLength: 2048 })),
  stream_key: Type.Optional(Type.String({ maxLength: 1024 })),
});
export type OutputConfig = Static<typeof OutputConfig> & Record<string, unknown>;

export const FlowConfig = Type.Object({
  id: EdgeId,
  name: EdgeName,
  enabled: Type.Optional(Type.Boolean()),
  media_analysis: Type.Optional(Type.Boolean()),
  thumbnail: Type.Optional(Type.Boolean()),
  thumbnail_interval_secs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60 })),
  thumbnail_program_number: Type.Optional(Type.Integer({ minimum: 1 })),
  input_ids: Type.Optional(Type.Array(EdgeId, { maxItems: 256 })),
  output_ids: Type.Optional(Type.Array(EdgeId, { maxItems: 1024 })),
  flow_group_id: Type.Optional(Type.String({ maxLength: 64 })),
  clock_domain: Type.Optional(Type.Integer({ minimum: 0, maximum: 127 })),
});
export type FlowConfig = Static<typeof FlowConfig> & Record<string, unknown>;

export const ServerConfig = Type.Object({
  listen_addr: Type.String({ maxLength: 256 }),
  listen_port: Type.Integer({ minimum: 0, maximum: 65535 }),
});

export const AppConfig = Type.Object({
  version: Type.Literal(2),
  server: ServerConfig,
  node_id: Type.Optional(Type.String({ maxLength: 256 })),
  device_name: Type.Optional(Type.String({ maxLength: 256 })),
  inputs: Type.Optional(Type.Array(InputDefinition, { maxItems: 1024 })),
  outputs: Type.Optional(Type.Array(OutputConfig, { maxItems: 4096 })),
  flows: Type.Optional(Type.Array(FlowConfig, { maxItems: 1024 })),
  tunnels: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: 1024 })),
});
export type AppConfig = Static<typeof AppConfig> & Record<string, unknown>;

/** One address a flow listens on or sends to, as `GET /api/v1/nodes/endpoints` lists them per node. */
export const FlowEndpoint = Type.Object({
  flow_id: Type.String(),
  flow_name: Type.String(),
  flow_enabled: Type.Boolean(),
  /** `input` or `output`. */
  side: Type.Enum(['input', 'output']),
  id: Type.String(),
  name: Type.String(),
  type: Type.String(),
  mode: Nullable(Type.String()),
  /** Which field the address came from (`local_addr`, `dest_addr`, `dest_url`…). */
  field: Type.String(),
  address: Type.String(),
});
export type FlowEndpoint = Static<typeof FlowEndpoint>;
