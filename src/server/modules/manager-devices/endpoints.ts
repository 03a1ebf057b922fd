/**
 * The addresses an edge's flows listen on and send to, read from its cached config: what
 * `GET /api/v1/nodes/endpoints` lists per online edge (manager spec §5.3).
 */
import type { AppConfig, FlowEndpoint } from '../../../contract/manager/edge-config.ts';

const ADDRESS_FIELDS = ['local_addr', 'remote_addr', 'bind_addr', 'dest_addr', 'dest_url'] as const;

type Item = Record<string, unknown>;

/** Every address of every flow's inputs and outputs, in config order; anything malformed is skipped. */
export function endpointsOf(config: AppConfig): FlowEndpoint[] {
  const list = (value: unknown): Item[] => (Array.isArray(value) ? value.filter((item): item is Item => item !== null && typeof item === 'object') : []);
  const inputs = new Map(list(config.inputs).map((input) => [input.id, input]));
  const outputs = new Map(list(config.outputs).map((output) => [output.id, output]));
  const endpoints: FlowEndpoint[] = [];
  for (const flow of list(config.flows)) {
    const refs = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
    const sides = [
      ['input', refs(flow.input_ids).map((id) => inputs.get(id))],
      ['output', refs(flow.output_ids).map((id) => outputs.get(id))],
    ] as const;
    for (const [side, items] of sides) {
      for (const item of items) {
        if (!item) continue;
        for (const field of ADDRESS_FIELDS) {
          const address = item[field];
          if (typeof address !== 'string' || address === '') continue;
          endpoints.push({
            flow_id: String(flow.id),
            flow_name: String(flow.name),
            flow_enabled: flow.enabled !== false,
            side,
            id: String(item.id),
            name: String(item.name),
            type: String(item.type),
            mode: typeof item.mode === 'string' ? item.mode : null,
            field,
            address,
          });
        }
      }
    }
  }
  return endpoints;
}
