import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bindToken, edgeLegPayloads, relayAuthorization, type TunnelFields } from './tunnel-legs.ts';

// Golden vectors computed outside Node:
//   printf '%s' "$TUNNEL:ingress" | openssl dgst -sha256 -hmac "$SECRET"
const SECRET = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
const TUNNEL = '6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6f7';
const INGRESS = 'db3f35f61c91ee7174e9d76d76a1c4525a5ad9fe8d676016924f0aa287e9966c';
const EGRESS = 'a134889bf6cf3d737e2b14da8fe05dd31dbebfe7ecf1238167f3895932701dad';
const ALL_F_INGRESS = '3ae01d3f1a8eec009ab0a15afaa6addd6fe1274f9137d32ad22a23b3b52c01b7';
// The same message keyed with the hex-*decoded* secret (`-macopt hexkey:`): what the token is not.
const HEX_DECODED_INGRESS = '9bf82cc8fff4fec8147cca25e7e85f95d79f186271b656a5d1e92cd98b67d0b0';

const secrets = { encryptionKey: 'k'.repeat(64), bindSecret: SECRET, psk: 'p'.repeat(64) };

describe('bind tokens (§2.4)', () => {
  it('match the independently computed vectors', () => {
    assert.equal(bindToken(SECRET, TUNNEL, 'ingress'), INGRESS);
    assert.equal(bindToken(SECRET, TUNNEL, 'egress'), EGRESS);
    assert.equal(bindToken('f'.repeat(64), TUNNEL, 'ingress'), ALL_F_INGRESS);
    assert.notEqual(bindToken(SECRET, TUNNEL, 'ingress'), HEX_DECODED_INGRESS);
  });

  it('use the lowercase tunnel id, as edges format it', () => {
    assert.equal(bindToken(SECRET, TUNNEL.toUpperCase(), 'ingress'), INGRESS);
  });

  it('the relay authorization carries both', () => {
    assert.deepEqual(relayAuthorization({ id: TUNNEL }, secrets), {
      type: 'authorize_tunnel',
      tunnel_id: TUNNEL,
      ingress_token: INGRESS,
      egress_token: EGRESS,
    });
  });
});

describe('create_tunnel payloads (§2.4 table)', () => {
  const base: TunnelFields = {
    id: TUNNEL,
    name: 'studio link',
    protocol: 'udp',
    mode: 'relay',
    ingress_listen_port: 9000,
    egress_forward_addr: '127.0.0.1:5000',
    egress_peer_addr: null,
    relay_addr: '198.51.100.7:4433',
  };
  const common = { id: TUNNEL, name: 'studio link', enabled: true, protocol: 'udp', tunnel_encryption_key: secrets.encryptionKey, tunnel_bind_secret: SECRET };

  it('relay mode: the entry edge runs direction egress, the exit edge ingress, both with relay_addrs and the legacy relay_addr', () => {
    assert.deepEqual(edgeLegPayloads(base, secrets), {
      ingress: {
        type: 'create_tunnel',
        tunnel: {
          ...common,
          mode: 'relay',
          direction: 'egress',
          local_addr: '0.0.0.0:9000',
          relay_addrs: ['198.51.100.7:4433'],
          relay_addr: '198.51.100.7:4433',
        },
      },
      egress: {
        type: 'create_tunnel',
        tunnel: {
          ...common,
          mode: 'relay',
          direction: 'ingress',
          local_addr: '127.0.0.1:5000',
          relay_addrs: ['198.51.100.7:4433'],
          relay_addr: '198.51.100.7:4433',
        },
      },
    });
  });

  it('direct mode: the entry edge dials peer_addr, the exit edge listens on its port, both with the PSK', () => {
    const direct = { ...base, mode: 'direct' as const, relay_addr: null, egress_peer_addr: '203.0.113.20:7000' };
    assert.deepEqual(edgeLegPayloads(direct, secrets), {
      ingress: {
        type: 'create_tunnel',
        tunnel: { ...common, mode: 'direct', direction: 'egress', local_addr: '0.0.0.0:9000', peer_addr: '203.0.113.20:7000', tunnel_psk: secrets.psk },
      },
      egress: {
        type: 'create_tunnel',
        tunnel: { ...common, mode: 'direct', direction: 'ingress', local_addr: '127.0.0.1:5000', direct_listen_addr: '0.0.0.0:7000', tunnel_psk: secrets.psk },
      },
    });
  });
});
