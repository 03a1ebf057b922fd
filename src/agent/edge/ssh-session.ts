/**
 * One SSH `session` channel of the embedded server: `env`, `pty-req`, `window-change`, `exec`,
 * `shell` and `signal` requests (RFC 4254 §6). Commands run as the agent's own OS user: `exec`
 * with `/bin/sh -c`, `shell` with the agent's `$SHELL` (else /bin/sh), a login shell on a pty.
 *
 * Node has no pseudo-terminal API and the agent takes no native module, so a pty is borrowed from
 * util-linux `script`, which runs the shell on a real pty and relays it over pipes. Its size is set
 * with `stty` on that pty (the kernel then signals SIGWINCH to the foreground job). Without
 * `script` a pty request falls back to plain pipes: commands work, full-screen programs do not.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import os from 'node:os';
import type { Logger } from 'pino';
import type { PseudoTtyInfo, ServerChannel, Session } from 'ssh2';

export interface SessionContext {
  /** The Nodeplane SSH username the client authenticated as (an access identity, not an OS account). */
  username: string;
  /** `SSH_CLIENT` / `SSH_CONNECTION` values for the child's environment. */
  sshClient: string;
  sshConnection: string;
  log: Logger;
  /** Children of every session, so stopping the agent can end them. */
  track(child: ChildProcess): void;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const MAX_ENV_VARS = 64;
const MAX_ENV_VALUE = 8192;
/** Set by the agent itself; a client must not be able to pass itself off as another identity. */
const RESERVED_ENV = new Set(['NODEPLANE_SSH_USER', 'SSH_CLIENT', 'SSH_CONNECTION', 'SSH_TTY', 'USER', 'LOGNAME', 'HOME']);

const SCRIPT_CANDIDATES = ['/usr/bin/script', '/bin/script'];
let scriptPath: string | null | undefined;
/** util-linux `script`, looked up once. */
function findScript(): string | null {
  if (scriptPath === undefined) scriptPath = SCRIPT_CANDIDATES.find((p) => existsSync(p)) ?? null;
  return scriptPath;
}

/** POSIX shell single-quoting. */
const shellQuote = (value: string): string => `'${value.replaceAll("'", `'\\''`)}'`;

/** The user's shell: the agent's `$SHELL`, else /bin/sh. */
function loginShell(): string {
  const shell = process.env.SHELL;
  return shell && shell.startsWith('/') && existsSync(shell) ? shell : '/bin/sh';
}

const clampSize = (n: number, fallback: number) => (Number.isInteger(n) && n > 0 && n < 10_000 ? n : fallback);

export function handleSession(session: Session, context: SessionContext): void {
  const env: Record<string, string> = {};
  let pty: PseudoTtyInfo | null = null;
  let size = { rows: 24, cols: 80 };
  let child: ChildProcess | null = null;
  let ptyDevice: Promise<string | null> | null = null;

  session.on('env', (accept, reject, info) => {
    const ok =
      ENV_NAME.test(info.key) && !RESERVED_ENV.has(info.key) && info.val.length <= MAX_ENV_VALUE && (info.key in env || Object.keys(env).length < MAX_ENV_VARS);
    if (!ok || child) return reject?.();
    env[info.key] = info.val;
    accept?.();
  });

  session.on('pty', (accept, reject, info) => {
    if (child) return reject?.();
    pty = info;
    size = { rows: clampSize(info.rows, 24), cols: clampSize(info.cols, 80) };
    accept?.();
  });

  session.on('window-change', (accept, _reject, info) => {
    size = { rows: clampSize(info.rows, size.rows), cols: clampSize(info.cols, size.cols) };
    accept?.();
    if (child && pty && findScript()) void resize(size.rows, size.cols);
  });

  session.on('signal', (accept, reject, info) => {
    const name = `SIG${info.name}` as NodeJS.Signals;
    if (!child || !/^SIG[A-Z0-9]+$/.test(name)) return reject?.();
    try {
      // The whole process group: the shell and whatever it started.
      process.kill(-child.pid!, name);
      accept?.();
    } catch {
      reject?.();
    }
  });

  session.on('exec', (accept, reject, info) => {
    if (child) return reject?.();
    const channel = accept();
    if (channel) start(channel, '/bin/sh', ['-c', info.command], info.command);
  });

  session.on('shell', (accept, reject) => {
    if (child) return reject?.();
    const channel = accept();
    if (channel) start(channel, loginShell(), pty ? ['-l'] : [], null);
  });

  // No SFTP, X11 or agent forwarding: an SSH login here is for commands and shells.
  session.on('subsystem', (_accept, reject) => reject?.());
  session.on('x11', (_accept, reject) => reject?.());
  session.on('auth-agent', (_accept, reject) => reject?.());

  async function resize(rows: number, cols: number): Promise<void> {
    ptyDevice ??= findPtyDevice(child!);
    const device = await ptyDevice;
    if (!device) return;
    execFile('stty', ['-F', device, 'rows', String(rows), 'cols', String(cols)], () => {});
  }

  function start(channel: ServerChannel, program: string, programArgs: string[], command: string | null): void {
    const shell = loginShell();
    const home = os.homedir();
    const user = os.userInfo().username;
    const childEnv: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      ...(process.env.LANG ? { LANG: process.env.LANG } : {}),
      ...env,
      HOME: home,
      USER: user,
      LOGNAME: user,
      SHELL: shell,
      SSH_CLIENT: context.sshClient,
      SSH_CONNECTION: context.sshConnection,
      NODEPLANE_SSH_USER: context.username,
    };
    const script = pty ? findScript() : null;
    let file: string;
    let args: string[];
    if (pty && script) {
      childEnv.TERM = pty.term || 'xterm';
      const inner = `stty rows ${size.rows} cols ${size.cols} 2>/dev/null; exec ${[program, ...programArgs].map(shellQuote).join(' ')}`;
      // -q: no banner, -e: the shell's exit status, -f: flush output as it comes.
      file = script;
      args = ['-q', '-e', '-f', '-c', inner, '/dev/null'];
    } else {
      if (pty) childEnv.TERM = pty.term || 'dumb';
      file = program;
      args = programArgs;
    }
    context.log.info({ ssh_user: context.username, command, pty: Boolean(pty) }, command === null ? 'ssh shell started' : 'ssh exec started');

    let proc: ChildProcess;
    try {
      proc = spawn(file, args, { cwd: existsSync(home) ? home : '/', env: childEnv, stdio: 'pipe', detached: true });
    } catch (error) {
      channel.stderr.write(`nodeplane: cannot start ${file}: ${(error as Error).message}\r\n`);
      channel.exit(127);
      channel.end();
      return;
    }
    child = proc;
    context.track(proc);

    channel.pipe(proc.stdin!);
    proc.stdin!.on('error', () => {});
    proc.stdout!.pipe(channel, { end: false });
    proc.stderr!.pipe(channel.stderr, { end: false });

    let finished = false;
    proc.on('error', (error) => {
      if (finished) return;
      finished = true;
      channel.stderr.write(`nodeplane: cannot start ${file}: ${error.message}\r\n`);
      channel.exit(127);
      channel.end();
    });
    // 'close' comes after stdout and stderr are drained, so the exit status follows all output.
    proc.on('close', (code, signal) => {
      if (finished) return;
      finished = true;
      if (signal) channel.exit(signal.replace(/^SIG/, ''), false, '');
      else channel.exit(code ?? 0);
      channel.end();
      context.log.info({ ssh_user: context.username, exit_code: code, signal }, 'ssh session ended');
    });
    // The client went away: hang up on the job like sshd does.
    channel.on('close', () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(-proc.pid!, 'SIGHUP');
        } catch {
          // Already gone.
        }
      }
    });
  }
}

/** The pty `script` opened for its shell: the first child's stdin. */
async function findPtyDevice(script: ChildProcess): Promise<string | null> {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const children = (await readFile(`/proc/${script.pid}/task/${script.pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean);
      if (children.length > 0) {
        const device = await readlink(`/proc/${children[0]}/fd/0`);
        if (device.startsWith('/dev/pts/')) return device;
      }
    } catch {
      // Not there yet, or not Linux.
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return null;
}
