/** Agent-facing node routes (edge-admin spec §6.4–6.5): registration and the health fallback. */
import { Type, type Static } from 'typebox';
import { IdType, Port } from '../admin/nodes.ts';
import { Nullable, Uuid } from '../types.ts';

/** All fields required; unknown extra fields are tolerated so newer agents keep registering. */
export const RegistrationRequest = Type.Object({
  node_id: Uuid,
  /** `cluster-<name>`; a wrong prefix or unknown cluster is a 422 from the service, not a 400. */
  network_name: Type.String(),
  id_type: IdType,
  http_port: Port,
  ssh_port: Port,
  host_metrics_port: Port,
  wireguard_metrics_port: Port,
  http_proxy_port: Port,
  socks5_proxy_port: Port,
  version: Type.String({ maxLength: 255 }),
  self_update_enabled: Type.Boolean(),
});
export type RegistrationRequest = Static<typeof RegistrationRequest>;

/** What registration and the health report both answer: the node's current credentials. */
export const Registration = Type.Object({
  node_id: Uuid,
  api_token: Type.String(),
  proxy_password: Type.String(),
  admin_urls: Type.Array(Type.String()),
  derp_map_url: Nullable(Type.String()),
});
export type Registration = Static<typeof Registration>;

export const HealthCheckRequest = Type.Object({ status: Type.Enum(['healthy', 'unhealthy']) });
export type HealthCheckRequest = Static<typeof HealthCheckRequest>;
