/**
 * The edge's configuration commands (manager spec §2.2) as pure functions on a cached AppConfig:
 * the REST layer pre-validates a command against the node's cached config with them, and the edge
 * emulator keeps its in-memory config with the same code. Each answers the new config, or the
 * failure a real edge acks (`error_code` + `error`); the given config is never modified.
 */
import type { AppConfig, FlowConfig, OutputConfig } from '../../../contract/manager/edge-config.ts';
import { type Details, validateEdgeConfig, validateFlowShape, validateOutputShape } from './edge-config.validate.ts';

export type EdgeCommandOutcome =
  | { ok: true; config: AppConfig }
  | { ok: false; error_code: 'missing_field' | 'unknown_flow' | 'validation_error' | 'unknown_action'; error: string; details?: Details };

type Action = Record<string, unknown>;

/** Top-level keys `update_config` keeps from the node when the new config omits them (§2.2). */
const NODE_KEPT_KEYS = ['upgrades', 'monitor', 'resource_limits', 'logging', 'nmos_registration', 'device_name', 'tuning'];

const missing = (field: string): EdgeCommandOutcome => ({ ok: false, error_code: 'missing_field', error: `Missing field: ${field}` });
const unknownFlow = (id: string): EdgeCommandOutcome => ({ ok: false, error_code: 'unknown_flow', error: `Flow '${id}' not found` });
const invalid = (error: string, details?: Details): EdgeCommandOutcome => ({ ok: false, error_code: 'validation_error', error, ...(details && { details }) });

function invalidDetails(details: Details): EdgeCommandOutcome {
  const [path, messages] = Object.entries(details)[0]!;
  return invalid(`${path}: ${messages[0]}`, details);
}

/** The result if the whole config still validates. */
function checked(config: AppConfig): EdgeCommandOutcome {
  const details = validateEdgeConfig(config);
  return details ? invalidDetails(details) : { ok: true, config };
}

const flowsOf = (config: AppConfig): FlowConfig[] => config.flows ?? [];
const stringParam = (action: Action, field: string): string | undefined =>
  typeof action[field] === 'string' && action[field] !== '' ? (action[field] as string) : undefined;

function withFlow(config: AppConfig, flowId: string, change: (flow: FlowConfig) => FlowConfig): EdgeCommandOutcome {
  const flows = flowsOf(config);
  if (!flows.some((flow) => flow.id === flowId)) return unknownFlow(flowId);
  return checked({ ...config, flows: flows.map((flow) => (flow.id === flowId ? change(flow) : flow)) });
}

function createFlow(config: AppConfig, action: Action): EdgeCommandOutcome {
  if (action.flow === undefined) return missing('flow');
  const shape = validateFlowShape(action.flow);
  if (shape) return invalidDetails(shape);
  const flow = action.flow as FlowConfig;
  if (flowsOf(config).some((existing) => existing.id === flow.id)) return invalid(`Flow '${flow.id}' already exists`);
  return checked({ ...config, flows: [...flowsOf(config), flow] });
}

function updateFlow(config: AppConfig, action: Action): EdgeCommandOutcome {
  if (action.flow === undefined) return missing('flow');
  const shape = validateFlowShape(action.flow);
  if (shape) return invalidDetails(shape);
  const flow = action.flow as FlowConfig;
  const flowId = stringParam(action, 'flow_id') ?? flow.id;
  if (flow.id !== flowId && flowsOf(config).some((existing) => existing.id === flow.id)) return invalid(`Flow '${flow.id}' already exists`);
  return withFlow(config, flowId, () => flow);
}

function deleteFlow(config: AppConfig, flowId: string): EdgeCommandOutcome {
  const flows = flowsOf(config);
  if (!flows.some((flow) => flow.id === flowId)) return unknownFlow(flowId);
  return { ok: true, config: { ...config, flows: flows.filter((flow) => flow.id !== flowId) } };
}

function addOutput(config: AppConfig, flowId: string, action: Action): EdgeCommandOutcome {
  if (action.output === undefined) return missing('output');
  const shape = validateOutputShape(action.output);
  if (shape) return invalidDetails(shape);
  const output = action.output as OutputConfig;
  if (!flowsOf(config).some((flow) => flow.id === flowId)) return unknownFlow(flowId);
  if ((config.outputs ?? []).some((existing) => existing.id === output.id)) return invalid(`Output '${output.id}' already exists`);
  return withFlow({ ...config, outputs: [...(config.outputs ?? []), output] }, flowId, (flow) => ({
    ...flow,
    output_ids: [...(flow.output_ids ?? []), output.id],
  }));
}

function removeOutput(config: AppConfig, flowId: string, outputId: string): EdgeCommandOutcome {
  const flow = flowsOf(config).find((candidate) => candidate.id === flowId);
  if (!flow) return unknownFlow(flowId);
  if (!(flow.output_ids ?? []).includes(outputId)) return invalid(`Output '${outputId}' is not part of flow '${flowId}'`);
  const flows = flowsOf(config).map((candidate) =>
    candidate.id === flowId ? { ...candidate, output_ids: (candidate.output_ids ?? []).filter((id) => id !== outputId) } : candidate,
  );
  // The top-level output goes when no flow references it any more.
  const referenced = flows.some((candidate) => (candidate.output_ids ?? []).includes(outputId));
  const outputs = referenced ? config.outputs : (config.outputs ?? []).filter((output) => output.id !== outputId);
  return { ok: true, config: { ...config, flows, ...(outputs && { outputs }) } };
}

function updateConfig(current: AppConfig, action: Action): EdgeCommandOutcome {
  if (action.config === undefined) return missing('config');
  const details = validateEdgeConfig(action.config);
  if (details) return invalidDetails(details);
  const next = { ...(action.config as AppConfig) };
  for (const key of NODE_KEPT_KEYS) if (next[key] === undefined && current[key] !== undefined) next[key] = current[key];
  return { ok: true, config: next };
}

/** Applies one §2.2 command (`action.type` plus its params) to `config`. */
export function applyEdgeCommand(config: AppConfig, action: Action): EdgeCommandOutcome {
  const type = String(action.type);
  if (type === 'update_config') return updateConfig(config, action);
  if (type === 'create_flow') return createFlow(config, action);
  if (type === 'update_flow') return updateFlow(config, action);
  if (!['delete_flow', 'start_flow', 'stop_flow', 'restart_flow', 'add_output', 'remove_output'].includes(type))
    return { ok: false, error_code: 'unknown_action', error: `Unknown command: ${type}` };
  const flowId = stringParam(action, 'flow_id');
  if (flowId === undefined) return missing('flow_id');
  switch (type) {
    case 'delete_flow':
      return deleteFlow(config, flowId);
    case 'stop_flow':
      return withFlow(config, flowId, (flow) => ({ ...flow, enabled: false }));
    case 'add_output':
      return addOutput(config, flowId, action);
    case 'remove_output': {
      const outputId = stringParam(action, 'output_id');
      return outputId === undefined ? missing('output_id') : removeOutput(config, flowId, outputId);
    }
    default:
      // start_flow and restart_flow both leave the flow enabled.
      return withFlow(config, flowId, (flow) => ({ ...flow, enabled: true }));
  }
}
