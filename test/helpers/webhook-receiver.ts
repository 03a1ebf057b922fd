/**
 * A real HTTP webhook receiver on loopback: records every request (raw body bytes included),
 * verifies `x-edge-signature` against the secret it was given, and answers with whatever the
 * test scripts (a status per request, a delay, a redirect).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Parsed envelope, when the body is JSON. */
  event: { id: string; type: string; [key: string]: unknown } | null;
  signatureValid: boolean;
  /** Date.now() when the body had arrived. */
  at: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  delayMs?: number;
}

/** Answers for one request; by default 200. */
export type Responder = (request: ReceivedRequest, index: number) => Reply;

const verifySignature = (secret: string, body: Buffer, header: string | undefined): boolean => {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header ?? '');
  return expected.length === given.length && timingSafeEqual(expected, given);
};

export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  responder: Responder = () => ({ status: 200 });
  private server: http.Server | null = null;
  port = 0;

  constructor(readonly secret: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on `port` (0 = any free one). */
  async start(port = 0): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        let event: ReceivedRequest['event'] = null;
        try {
          event = JSON.parse(body.toString('utf8'));
        } catch {
          // not an envelope
        }
        const received: ReceivedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body,
          event,
          signatureValid: verifySignature(this.secret, body, req.headers['x-edge-signature'] as string | undefined),
          at: Date.now(),
        };
        const index = this.requests.push(received) - 1;
        const reply = this.responder(received, index);
        const send = () => {
          if (res.destroyed) return;
          res.writeHead(reply.status, reply.headers ?? {});
          res.end('ok');
        };
        if (reply.delayMs) setTimeout(send, reply.delayMs).unref();
        else send();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Requests carrying the event `id`. */
  forEvent(id: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.event?.id === id);
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }
}
