/**
 * Authenticated agents, cached by token hash. Every agent request (health reports above all) would
 * otherwise cost a join, a row read and two AES-GCM decryptions. Entries live `ttlMs`. Changes made
 * by this instance (re-registration, delete, status writes) update the cache at once; a revocation
 * on another instance arrives as a signal (NodeChannels.onRevoked), and the TTL bounds how long a
 * lost signal can leave a revoked token working here.
 */
export interface AgentSession {
  nodeId: string;
  clusterId: string | null;
  status: string;
  apiToken: string;
  proxyPassword: string;
}

interface Entry extends AgentSession {
  tokenHash: string;
  expiresAt: number;
}

const MAX_ENTRIES = 200_000;

export class AgentSessions {
  private readonly byHash = new Map<string, Entry>();
  private readonly hashByNode = new Map<string, string>();

  constructor(
    private readonly ttlMs: number,
    private readonly load: (tokenHash: string) => Promise<AgentSession | null>,
  ) {}

  async get(tokenHash: string): Promise<AgentSession | null> {
    const cached = this.byHash.get(tokenHash);
    if (cached && cached.expiresAt > Date.now()) return cached;
    if (cached) this.drop(cached);
    const session = await this.load(tokenHash);
    if (!session) return null;
    this.forget(session.nodeId);
    if (this.byHash.size >= MAX_ENTRIES) this.drop(this.byHash.values().next().value!);
    const entry: Entry = { ...session, tokenHash, expiresAt: Date.now() + this.ttlMs };
    this.byHash.set(tokenHash, entry);
    this.hashByNode.set(session.nodeId, tokenHash);
    return entry;
  }

  /** The cached session of a node, if it authenticated here recently. */
  ofNode(nodeId: string): AgentSession | null {
    const hash = this.hashByNode.get(nodeId);
    const entry = hash === undefined ? undefined : this.byHash.get(hash);
    return entry && entry.expiresAt > Date.now() ? entry : null;
  }

  setStatus(nodeId: string, status: string): void {
    const hash = this.hashByNode.get(nodeId);
    const entry = hash === undefined ? undefined : this.byHash.get(hash);
    if (entry) entry.status = status;
  }

  forget(nodeId: string): void {
    const hash = this.hashByNode.get(nodeId);
    const entry = hash === undefined ? undefined : this.byHash.get(hash);
    if (entry) this.drop(entry);
  }

  private drop(entry: Entry): void {
    this.byHash.delete(entry.tokenHash);
    if (this.hashByNode.get(entry.nodeId) === entry.tokenHash) this.hashByNode.delete(entry.nodeId);
  }
}
