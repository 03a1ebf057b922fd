/**
 * What the manager sends each node of a tunnel (manager spec §2.4): pure functions of the tunnel
 * record and its opened secrets, so the service, the socket layer and the emulators agree.
 */
import { createHmac } from 'node:crypto';
import type { Tunnel } from '../../../contract/manager/tunnels.ts';
import { parseSocketAddress } from '../../lib/socket-address.ts';

export type BindDirection = 'ingress' | 'egress';

/** 64 lowercase hex characters each; `psk` only in direct mode. */
export interface TunnelSecrets {
  encryptionKey: string;
  bindSecret: string;
  psk: string | null;
}

/**
 * The relay's bind token for one side: HMAC-SHA256 keyed with the UTF-8 bytes of the hex secret
 * (not hex-decoded: edges and relays do it so) over `<tunnel_id>:<dir>`, as lowercase hex.
 */
export function bindToken(bindSecretHex: string, tunnelId: string, dir: BindDirection): string {
  return createHmac('sha256', Buffer.from(bindSecretHex, 'utf8')).update(`${tunnelId.toLowerCase()}:${dir}`).digest('hex');
}

export type TunnelFields = Pick<
  Tunnel,
  'id' | 'name' | 'protocol' | 'mode' | 'ingress_listen_port' | 'egress_forward_addr' | 'egress_peer_addr' | 'relay_addr'
>;

export type EdgeLeg = { type: 'create_tunnel'; tunnel: Record<string, unknown> };

/**
 * The `create_tunnel` actions for the entry node (`ingress_node_id`) and the exit node. Note the
 * inversion: the manager's ingress node carries traffic *into* the tunnel, which the edge calls
 * `direction: "egress"`.
 */
export function edgeLegPayloads(tunnel: TunnelFields, secrets: TunnelSecrets): { ingress: EdgeLeg; egress: EdgeLeg } {
  const common = {
    id: tunnel.id,
    name: tunnel.name,
    enabled: true,
    protocol: tunnel.protocol,
    mode: tunnel.mode,
    tunnel_encryption_key: secrets.encryptionKey,
    tunnel_bind_secret: secrets.bindSecret,
  };
  const entry: Record<string, unknown> = { ...common, direction: 'egress', local_addr: `0.0.0.0:${tunnel.ingress_listen_port}` };
  const exit: Record<string, unknown> = { ...common, direction: 'ingress', local_addr: tunnel.egress_forward_addr };
  if (tunnel.mode === 'relay') {
    // Current edges read `relay_addrs`; older ones only the scalar.
    for (const leg of [entry, exit]) Object.assign(leg, { relay_addrs: [tunnel.relay_addr], relay_addr: tunnel.relay_addr });
  } else {
    const peerPort = parseSocketAddress(tunnel.egress_peer_addr ?? '')?.port;
    Object.assign(entry, { peer_addr: tunnel.egress_peer_addr, tunnel_psk: secrets.psk });
    Object.assign(exit, { direct_listen_addr: `0.0.0.0:${peerPort}`, tunnel_psk: secrets.psk });
  }
  return { ingress: { type: 'create_tunnel', tunnel: entry }, egress: { type: 'create_tunnel', tunnel: exit } };
}

/** The relay's `authorize_tunnel` action: both sides' bind tokens. */
export function relayAuthorization(tunnel: Pick<Tunnel, 'id'>, secrets: Pick<TunnelSecrets, 'bindSecret'>) {
  return {
    type: 'authorize_tunnel' as const,
    tunnel_id: tunnel.id,
    ingress_token: bindToken(secrets.bindSecret, tunnel.id, 'ingress'),
    egress_token: bindToken(secrets.bindSecret, tunnel.id, 'egress'),
  };
}
