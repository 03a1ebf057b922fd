/**
 * An emulated agent's live channel (src/contract/agent-stream.ts): opens the WebSocket as a
 * registered node, records every server frame, and lets a test wait for frames or answer them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import type { RegisteredAgent } from './agents.ts';
import type { TestServer } from './server.ts';

export class StreamAgent {
  readonly frames: any[] = [];
  private readonly listeners: Array<(frame: any) => void> = [];

  private constructor(
    readonly agent: RegisteredAgent,
    readonly socket: WebSocket,
  ) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      this.frames.push(frame);
      for (const listener of this.listeners) listener(frame);
    });
  }

  /** Connects and resolves once the server's `welcome` arrived. */
  static connect(server: TestServer, agent: RegisteredAgent): Promise<StreamAgent> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`${server.url.replace('http', 'ws')}/api/v1/agents/stream`, { headers: { authorization: `Bearer ${agent.apiToken}` } });
      const stream = new StreamAgent(agent, socket);
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`stream refused: ${res.statusCode}`)));
      stream.onFrame((frame) => {
        if (frame.type === 'welcome') resolve(stream);
      });
    });
  }

  /** Calls `listener` for every later frame (e.g. to answer `self_update`). */
  onFrame(listener: (frame: any) => void): void {
    this.listeners.push(listener);
  }

  ofType(type: string): any[] {
    return this.frames.filter((f) => f.type === type);
  }

  /** Resolves with the first frame (received already or later) matching `match`. */
  async waitFor(match: (frame: any) => boolean, timeoutMs = 20_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`frame not received in time; got ${JSON.stringify(this.frames.map((f) => f.type))}`);
      await sleep(10);
    }
  }

  /** The `execution` frame of one execution. */
  execution(id: string, timeoutMs?: number): Promise<any> {
    return this.waitFor((f) => f.type === 'execution' && f.execution.id === id, timeoutMs);
  }

  send(frame: unknown): void {
    this.socket.send(JSON.stringify(frame));
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.socket.once('close', resolve));
    this.socket.close();
    await closed;
  }
}

/** Polls `check` until it holds. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(20);
  }
}

/** Outbox events of `types`, oldest first, as published. */
export async function eventsOf(server: TestServer, ...types: string[]): Promise<Array<{ type: string; data: Record<string, any> }>> {
  const rows = await server.ctx.database.db.selectFrom('events').select('envelope').where('type', 'in', types).orderBy('seq').execute();
  return rows.map((r) => JSON.parse(r.envelope));
}
