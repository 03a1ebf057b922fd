/**
 * Commands to a manager node and what rides on them (manager spec §2.1, §2.5, §5.3): the raw
 * command call, a node's config, its flows, the endpoints of online edges and secret rotation.
 */
import { Type, type Static } from 'typebox';
import { FlowConfig, FlowEndpoint } from './edge-config.ts';

/** `action.type` plus its params beside it; the node is the judge of the params. */
export const CommandAction = Type.Object({ type: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: true });
export type CommandAction = Static<typeof CommandAction>;

export const CommandRequest = Type.Object({ action: CommandAction }, { additionalProperties: false });
export type CommandRequest = Static<typeof CommandRequest>;

export const CommandResult = Type.Object({
  command_id: Type.String(),
  success: Type.Literal(true),
  data: Type.Optional(Type.Unknown()),
});
export type CommandResult = Static<typeof CommandResult>;

/** A failure the node reported passes its `error_code` through (the newer manager's word). */
export const CommandError = Type.Object({ error: Type.String(), error_code: Type.Optional(Type.String()) });

/** A whole node config: an edge's is validated as AppConfig v2 by the service, a relay's is the relay's. */
export const NodeConfigBody = Type.Record(Type.String(), Type.Unknown());
export type NodeConfigBody = Static<typeof NodeConfigBody>;

export const FlowCreateRequest = FlowConfig;

export const NodeFlowParams = Type.Object({ id: Type.String({ maxLength: 64 }), flow_id: Type.String({ minLength: 1, maxLength: 64 }) });

export const NodeEndpoints = Type.Object({
  node_id: Type.String(),
  node_name: Type.String(),
  endpoints: Type.Array(FlowEndpoint),
});
export type NodeEndpoints = Static<typeof NodeEndpoints>;

export const SecretRotated = Type.Object({ success: Type.Literal(true), command_id: Type.String() });
export type SecretRotated = Static<typeof SecretRotated>;
