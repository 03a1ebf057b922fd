/**
 * The agent's embedded SSH server (edge-admin spec §9.2). Every login is checked by the control
 * plane through `POST /api/v1/agents/ssh_usernames/verify_credentials` with this node's token, so
 * operators manage access in one place and a username of another node never works here.
 *
 * Nodeplane SSH usernames are access identities, not OS accounts: whoever logs in gets a shell or a
 * command as the OS user the agent runs as, with `NODEPLANE_SSH_USER` naming the identity.
 * Methods: `publickey` (the client's signature is checked here, the key's membership by the
 * control plane) and `password`. `none`, `keyboard-interactive` and `hostbased` are refused, and so
 * are port forwarding, SFTP, X11 and agent forwarding.
 */
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, readFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Server as NetServer, type Socket } from 'node:net';
import path from 'node:path';
import ssh2, { type AuthContext, type AuthenticationType, type ClientInfo, type Connection } from 'ssh2';
import { ApiError, type SshCredentials } from './api-client.ts';
import type { AgentFeature, AgentRuntime } from './features.ts';
import { openSshEd25519PrivateKey } from './ssh-keys.ts';
import { handleSession } from './ssh-session.ts';
import { ensureDataDir, writeFileAtomic } from '../shared/state.ts';

const { Server, utils } = ssh2;

export const HOST_KEY_FILE = 'ssh_host_ed25519_key';

/** What the control plane accepts (spec §9.1), and the signature algorithms each key type may use. */
const SIGNATURE_ALGORITHMS: Record<string, readonly string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['ssh-rsa', 'rsa-sha2-256', 'rsa-sha2-512'],
};
const METHODS: AuthenticationType[] = ['publickey', 'password'];

export interface SshServerOptions {
  /** A connection that has not logged in by then is dropped (sshd's LoginGraceTime, 60 s). */
  loginGraceMs?: number;
  /** Failed attempts per connection before it is dropped (sshd's MaxAuthTries is 6). */
  maxAuthFailures?: number;
  /** Open TCP connections at most, logged in or not (256). */
  maxConnections?: number;
}

/** A TCP connection and what it has got to. */
interface Peer {
  socket: Socket;
  grace: NodeJS.Timeout;
}

/** Loads the host key from the data dir, creating it (Ed25519, mode 0600) on first start. */
async function loadHostKey(dataDir: string): Promise<string> {
  const file = path.join(dataDir, HOST_KEY_FILE);
  try {
    const pem = await readFile(file, 'utf8');
    await chmod(file, 0o600);
    return pem;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await ensureDataDir(dataDir);
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = openSshEd25519PrivateKey(privateKey, 'nodeplane-agent');
  await writeFileAtomic(file, pem, 0o600);
  return pem;
}

export class SshServerFeature implements AgentFeature {
  readonly name = 'ssh';
  private listener: NetServer | null = null;
  private runtime: AgentRuntime | null = null;
  /** By `address:port` of the remote end, which is all ssh2 tells the connection handler. */
  private readonly peers = new Map<string, Peer>();
  private readonly children = new Set<ChildProcess>();

  constructor(private readonly options: SshServerOptions = {}) {}

  /** Where it listens (tests bind port 0); null while stopped or disabled. */
  address(): { host: string; port: number } | null {
    const address = this.listener?.address() as AddressInfo | null | undefined;
    return address ? { host: address.address, port: address.port } : null;
  }

  async start(runtime: AgentRuntime): Promise<void> {
    const { config, log } = runtime;
    if (!config.sshEnabled) {
      log.info('embedded SSH server disabled (NODEPLANE_AGENT_SSH_ENABLED=false)');
      return;
    }
    this.runtime = runtime;
    const pem = await loadHostKey(config.dataDir);
    const hostKey = utils.parseKey(pem);
    if (hostKey instanceof Error) throw new Error(`${path.join(config.dataDir, HOST_KEY_FILE)}: ${hostKey.message}; move it away to generate a new one`);
    const ssh = new Server(
      // The identification string may not contain spaces or '-' (RFC 4253 §4.2).
      { hostKeys: [pem], ident: `nodeplane_agent_${config.version.replace(/[^A-Za-z0-9._]/g, '_')}` },
      (client, info) => this.onClient(client, info),
    );
    // Our own TCP listener, so connections that never get as far as SSH are timed out and counted too.
    const listener = createServer((socket) => this.onSocket(socket, ssh));
    listener.maxConnections = this.options.maxConnections ?? 256;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(config.ports.ssh, config.sshHost, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    listener.on('error', (error: Error) => log.error({ err: error }, 'ssh server error'));
    this.listener = listener;
    log.info({ host: config.sshHost, port: this.address()?.port, host_key: (hostKey as { type: string }).type }, 'ssh server listening');
  }

  async stop(): Promise<void> {
    const listener = this.listener;
    this.listener = null;
    for (const child of this.children) hangUp(child);
    for (const peer of this.peers.values()) peer.socket.destroy();
    if (listener) await new Promise<void>((resolve) => listener.close(() => resolve()));
  }

  private onSocket(socket: Socket, ssh: InstanceType<typeof Server>): void {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const grace = setTimeout(() => socket.destroy(), this.options.loginGraceMs ?? 60_000);
    this.peers.set(key, { socket, grace });
    socket.once('close', () => {
      clearTimeout(grace);
      this.peers.delete(key);
    });
    this.runtime!.metrics.sshConnections.inc();
    ssh.injectSocket(socket);
  }

  private onClient(client: Connection, info: ClientInfo): void {
    const runtime = this.runtime!;
    const log = runtime.log.child({ ssh_remote: `${info.ip}:${info.port}` });
    const peer = this.peers.get(`${info.ip}:${info.port}`);
    const state = { username: null as string | null, failures: 0 };

    client.on('authentication', (ctx) => {
      this.authenticate(ctx, log).then(
        (ok) => {
          if (ok === null) return;
          if (ok) {
            state.username = ctx.username;
            runtime.metrics.sshAuthentications.inc();
            log.info({ ssh_user: ctx.username, method: ctx.method }, 'ssh login');
            return;
          }
          state.failures += 1;
          log.info({ ssh_user: ctx.username, method: ctx.method, failures: state.failures }, 'ssh authentication failed');
          if (state.failures >= (this.options.maxAuthFailures ?? 6)) client.end();
        },
        (error) => {
          log.error({ err: error }, 'ssh authentication error');
          safely(() => ctx.reject(METHODS));
        },
      );
    });

    client.on('ready', () => {
      if (peer) clearTimeout(peer.grace);
    });
    client.on('session', (accept) => {
      if (state.username === null) return;
      const session = accept();
      const localPort = peer?.socket.localPort ?? this.address()?.port ?? 0;
      handleSession(session, {
        username: state.username,
        sshClient: `${info.ip} ${info.port} ${localPort}`,
        sshConnection: `${info.ip} ${info.port} ${peer?.socket.localAddress ?? runtime.config.sshHost} ${localPort}`,
        log,
        track: (child) => {
          this.children.add(child);
          child.once('exit', () => this.children.delete(child));
        },
      });
    });
    client.on('error', (error) => log.debug({ err: error.message }, 'ssh connection error'));
  }

  /**
   * Answers one authentication request. Resolves true/false for a decided login attempt, null for
   * an answer that is not one (the `none` query, or a key probe the control plane knows).
   */
  private async authenticate(ctx: AuthContext, log: AgentRuntime['log']): Promise<boolean | null> {
    if (ctx.method === 'none') {
      safely(() => ctx.reject(METHODS));
      return null;
    }
    if (ctx.method === 'password') {
      const ok = await this.verify({ username: ctx.username, password: ctx.password }, log);
      safely(() => (ok ? ctx.accept() : ctx.reject(METHODS)));
      return ok;
    }
    if (ctx.method !== 'publickey') {
      safely(() => ctx.reject(METHODS));
      return false;
    }

    const key = utils.parseKey(ctx.key.data);
    if (key instanceof Error || !SIGNATURE_ALGORITHMS[key.type]?.includes(ctx.key.algo)) {
      safely(() => ctx.reject(METHODS));
      return false;
    }
    const credentials = { username: ctx.username, public_key: `${key.type} ${ctx.key.data.toString('base64')}` };
    if (!ctx.signature || !ctx.blob) {
      // "Would you take this key?" Nothing is proven yet; the signed request that follows is the login.
      const known = await this.verify(credentials, log);
      safely(() => (known ? ctx.accept() : ctx.reject(METHODS)));
      return known ? null : false;
    }
    // Possession of the private key is proven here; the control plane only knows public keys.
    if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
      safely(() => ctx.reject(METHODS));
      return false;
    }
    const ok = await this.verify(credentials, log);
    safely(() => (ok ? ctx.accept() : ctx.reject(METHODS)));
    return ok;
  }

  /** The control plane's verdict; no answer counts as no (fail closed). */
  private async verify(credentials: SshCredentials, log: AgentRuntime['log']): Promise<boolean> {
    try {
      return await this.runtime!.api.verifySshCredentials(credentials);
    } catch (error) {
      log.warn({ err: error instanceof ApiError ? error.describe() : (error as Error).message }, 'ssh credential check failed; login refused');
      return false;
    }
  }
}

function hangUp(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGHUP');
  } catch {
    // Already gone.
  }
}

/** ssh2 throws when answering on a connection the client has already closed. */
function safely(answer: () => void): void {
  try {
    answer();
  } catch {
    // Nothing left to answer.
  }
}
