/**
 * Is every inbound of an applied revision actually served? V2Ray 4.34 cannot run REALITY, grpc/xhttp
 * or multi-user Shadowsocks (the compat rewrite drops them, xray-config.ts), and a core can start
 * while an inbound fails to bind. Either way clients are refused, so the node must not claim `synced`.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { XrayConfig } from './xray-config.ts';

export interface UnservedInbound {
  tag: string;
  port: number | null;
  reason: string;
}

const SKIPPED = /^inbound (\S+) skipped: (.+)$/;

/** The inbounds the V2Ray compat rewrite dropped, from its warnings. */
export function skippedInbounds(warnings: readonly string[]): UnservedInbound[] {
  const out: UnservedInbound[] = [];
  for (const w of warnings) {
    const m = SKIPPED.exec(w);
    if (m) out.push({ tag: m[1]!, port: null, reason: m[2]! });
  }
  return out;
}

/** TCP connect to the inbound's address: accepted = listening. */
function listening(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Inbounds of `config` (Core's, before the agent's own parts) that were not dropped yet do not accept
 * TCP connections. Retried for a few seconds: a core binds its inbounds shortly after its API answers.
 */
export async function closedInbounds(config: XrayConfig | null, warnings: readonly string[], graceMs = 3_000): Promise<UnservedInbound[]> {
  const skipped = new Set(skippedInbounds(warnings).map((s) => s.tag));
  const candidates: Array<{ tag: string; host: string; port: number }> = [];
  for (const inbound of config?.inbounds ?? []) {
    const tag = String(inbound.tag ?? inbound.port ?? '?');
    const port = Number(inbound.port);
    if (skipped.has(tag) || !Number.isInteger(port) || port <= 0) continue;
    const settings = (inbound.settings ?? {}) as Record<string, unknown>;
    // A UDP-only inbound has no TCP socket to find.
    if (typeof settings.network === 'string' && !settings.network.split(',').includes('tcp')) continue;
    const listen =
      typeof inbound.listen === 'string' && inbound.listen !== '' && inbound.listen !== '0.0.0.0' && inbound.listen !== '::' ? inbound.listen : '127.0.0.1';
    candidates.push({ tag, host: listen, port });
  }
  let closed = candidates;
  const deadline = Date.now() + graceMs;
  for (;;) {
    const results = await Promise.all(closed.map((c) => listening(c.host, c.port, 1_000)));
    closed = closed.filter((_, i) => !results[i]);
    if (closed.length === 0 || Date.now() >= deadline) break;
    await sleep(200);
  }
  return closed.map((c) => ({ tag: c.tag, port: c.port, reason: `nothing listens on port ${c.port}` }));
}
