/**
 * One webhook delivery attempt over HTTP (edge-admin spec §11.3): POST the signed envelope bytes to
 * the address the SSRF guard vetted, never follow a redirect, give up after the timeout, and say
 * whether the outcome is success, worth a retry, or final.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedAddress } from './ssrf.ts';
import type { DeliveryOutcome } from './metrics.ts';

export const SIGNATURE_HEADER = 'x-edge-signature';
const CONTENT_TYPE = 'application/cloudevents+json';

/** `sha256=<lowercase hex HMAC-SHA256 of the raw body>`, keyed by the secret's UTF-8 bytes. */
const signature = (secret: string, body: Buffer): string => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

/** 2xx success; 408, 429, 503 worth retrying; every other status final (3xx included: never followed). */
export function classifyStatus(status: number): DeliveryOutcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status === 429 || status === 503) return 'recoverable';
  return 'terminal';
}

/**
 * Answers every lookup with the vetted address, so the socket goes exactly where the SSRF check
 * looked even if the name's DNS answer has changed since (rebinding).
 */
const pinnedLookup = (pinned: ResolvedAddress): LookupFunction =>
  ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  }) as unknown as LookupFunction;

export interface DeliveryRequest {
  url: URL;
  address: ResolvedAddress;
  body: Buffer;
  secret: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

const MAX_RESPONSE_BYTES = 1024 * 1024;

export class WebhookSender {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(maxSockets: number) {
    // Keep-alive: a busy receiver gets one connection per concurrent delivery, not one per event.
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets });
  }

  /** Resolves with the response status; rejects on any transport failure or the timeout. */
  post(request: DeliveryRequest): Promise<number> {
    const { url } = request;
    const secure = url.protocol === 'https:';
    const headers: Record<string, string> = {
      'content-type': CONTENT_TYPE,
      'content-length': String(request.body.length),
      [SIGNATURE_HEADER]: signature(request.secret, request.body),
      'user-agent': 'nodeplane-webhooks',
      ...request.headers,
    };
    return new Promise<number>((resolve, reject) => {
      const req = (secure ? https : http).request({
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port || (secure ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        headers,
        agent: secure ? this.httpsAgent : this.httpAgent,
        lookup: pinnedLookup(request.address),
      });
      const timer = setTimeout(() => req.destroy(new Error(`no response within ${request.timeoutMs} ms`)), request.timeoutMs);
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      req.on('response', (res) => {
        let received = 0;
        // Drain the body so the connection can be reused; a receiver that streams forever is cut off.
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > MAX_RESPONSE_BYTES) res.destroy();
        });
        res.on('error', () => {});
        res.on('close', () => {
          clearTimeout(timer);
          resolve(res.statusCode ?? 0);
        });
      });
      req.end(request.body);
    });
  }

  destroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
