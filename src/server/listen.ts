/**
 * Where the FastCGI and uwsgi servers listen (F1, S5), shared by both: a unix
 * socket path (stale file replaced, a live one never stolen, mode settable,
 * removed on close), TCP host:port, or an inherited listening socket on fd 0
 * (FastCGI 1.0 §2.2 FCGI_LISTENSOCK_FILENO; how mod_fcgid and spawn-fcgi
 * start an app).
 */
import { Buffer } from 'node:buffer';
import { chmodSync, fstatSync, lstatSync, unlinkSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { dirname } from 'node:path';
import { GatewayError } from '../contract/errors.js';
import { checkDirSafe, makeDirs, removeDirs, runningAsRoot } from '../contract/safe-open.js';
import { chownSocket } from './privileges.js';

/** Where to listen. Give `socket`, or `port` (with `host`), or neither for fd 0. */
export interface ListenOptions {
  /** Unix socket path. */
  socket?: string;
  /** Mode of the socket file, e.g. 0o660 or '660', which it has from the instant it exists (default: as the umask leaves it). */
  chmod?: number | string;
  /** Owner of the socket file, `USER[:GROUP]` or `:GROUP` (root only). */
  chown?: string;
  /** TCP interface (default 127.0.0.1). */
  host?: string;
  /** TCP port (0 picks a free one). */
  port?: number;
  /** An inherited listening socket (default 0 when neither `socket` nor `port` is given). */
  fd?: number;
  /**
   * Connections the kernel queues before they are accepted (listen(2)'s
   * backlog; default 2048, the kernel caps it at net.core.somaxconn). Node's
   * own default, 511, is less than the connections nginx opens at once under
   * load, which it then answers 502.
   */
  backlog?: number;
}

/** The listen(2) backlog when none is given. */
export const DEFAULT_BACKLOG = 2048;

/** Where a server ended up listening. */
export interface ListenAddress {
  kind: 'unix' | 'tcp' | 'fd';
  /** The socket path (unix). */
  path?: string;
  host?: string;
  port?: number;
  fd?: number;
  /** For messages: `unix:/run/app.sock`, `127.0.0.1:9000`, `fd 0`. */
  text: string;
}

type NetModule = typeof import('node:net');

/** Parses a `--chmod` mode: octal digits (`660`, `0660`) or a number. */
export function parseMode(mode: number | string): number {
  if (typeof mode === 'number') {
    if (Number.isInteger(mode) && mode >= 0 && mode <= 0o7777) return mode;
  } else if (/^0?[0-7]{3,4}$/.test(mode.trim())) {
    return parseInt(mode.trim(), 8);
  }
  throw new GatewayError('ERR_BAD_OPTION', `chmod: ${String(mode)} is not a file mode (use octal, e.g. 660)`);
}

/**
 * The longest unix socket path, in bytes: sun_path holds 108 bytes on Linux
 * and 104 on the BSDs and macOS, the terminating NUL included. A longer path
 * is not bound at all (Node 22 would bind a truncated one and leave it behind).
 */
export const SOCKET_PATH_MAX = (process.platform === 'linux' ? 108 : 104) - 1;

/** Refuses a unix socket path that does not fit sun_path (one line, exit 2). */
export function checkSocketPathLength(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > SOCKET_PATH_MAX) {
    throw new GatewayError('ERR_CONFIG', `--socket ${path}: ${bytes} bytes, longer than a unix socket path may be (${SOCKET_PATH_MAX} bytes here); choose a shorter path`);
  }
}

/**
 * S5: a socket file left behind by a process that died is replaced; one that
 * a live process answers on is never taken over; anything that is not a
 * socket is never deleted. Returns the directories it created (for
 * removeDirs, should the bind fail).
 */
export async function claimSocketPath(net: NetModule, path: string): Promise<string[]> {
  checkSocketPathLength(path);
  const made = ensureSocketDir(path);
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return made;
    throw err;
  }
  if (!isSocket) throw new GatewayError('ERR_LISTEN', `${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<string | null>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => { probe.destroy(); resolve('a process accepts connections on it'); });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      // ECONNREFUSED: nobody listens, the file is stale. Anything else (EACCES…): we cannot tell; keep off.
      resolve(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? null : `it cannot be probed (${err.code ?? err.message})`);
    });
  });
  if (live !== null) throw new GatewayError('ERR_LISTEN', `${path} is in use: ${live}; refusing to take it over`);
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return made;
}

/**
 * The socket's directory is created when missing (mode 755: the web server's
 * user must be able to reach the socket), or refused with one line saying why
 * and what to do. As root, a directory others may write without the sticky
 * bit is refused (P12): they could swap the socket for a link before its
 * mode and owner are set. Returns the directories it created.
 */
export function ensureSocketDir(path: string): string[] {
  const dir = dirname(path);
  let made: string[];
  try {
    made = makeDirs(dir, `--socket ${path}`);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    let code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') code = 'ENOTDIR'; // a file where the directory should be
    throw new GatewayError('ERR_CONFIG', code === 'EACCES' || code === 'EPERM'
      ? `cannot create ${dir} for the socket ${path}: permission denied; create it owned by the user tsgi runs as (systemd: RuntimeDirectory=), or pick a directory that user may write`
      : `cannot create ${dir} for the socket ${path}: ${code ?? (err as Error).message}`);
  }
  if (runningAsRoot()) checkDirSafe(dir, `--socket ${path}`);
  return made;
}

/**
 * Binds a unix socket with its final mode from the first instant (P12): the
 * umask is set to the mode's complement around `bind` (which must bind
 * synchronously: the umask is the process's, and is restored at once), so
 * that no other user may connect before a chmod, and no chmod, which would
 * follow a link put in the socket's place, is needed. (A worker thread may
 * not change the umask: there, and only there, the mode is set by a chmod
 * after the bind.) Then `--chown`, without following links. On any failure
 * nothing is left behind: the socket file and the directories made for it
 * are removed. Returns the socket file's inode.
 */
export async function bindUnix(net: NetModule, opts: ListenOptions & { socket: string }, bind: () => Promise<void> | void, unbind: () => void): Promise<number> {
  const path = opts.socket;
  const mode = opts.chmod === undefined ? undefined : parseMode(opts.chmod);
  const made = await claimSocketPath(net, path);
  let old: number | undefined;
  if (mode !== undefined) {
    try { old = process.umask(~mode & 0o777); } catch { /* a worker thread: see above */ }
  }
  let bound: Promise<void> | void;
  try {
    bound = bind();
  } catch (err) {
    bound = Promise.reject(err);
  } finally {
    if (old !== undefined) process.umask(old);
  }
  try {
    await bound;
  } catch (err) {
    removeDirs(made);
    throw listenError(err, `unix:${path}`);
  }
  let ino: number | undefined;
  try {
    const st = lstatSync(path);
    if (!st.isSocket()) throw new GatewayError('ERR_LISTEN', `${path} was replaced right after the bind; refusing to use it`);
    ino = st.ino;
    if (mode !== undefined && old === undefined) chmodSync(path, mode);
    if (opts.chown !== undefined) chownSocket(path, opts.chown, ino);
    return ino;
  } catch (err) {
    unbind();
    try { if (ino !== undefined && lstatSync(path).ino === ino) unlinkSync(path); } catch { /* gone */ }
    removeDirs(made);
    throw listenError(err, `unix:${path}`);
  }
}

/**
 * One line for a failed bind: what the address is and what to do, instead of
 * a raw EADDRINUSE/EACCES stack.
 */
export function listenError(err: unknown, where: string): Error {
  if (err instanceof GatewayError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return new GatewayError('ERR_LISTEN', `${where} is already in use: stop the process listening there, or choose another address (--bind, --port or --socket)`);
  if (code === 'EACCES' || code === 'EPERM') {
    return new GatewayError('ERR_LISTEN', where.startsWith('unix:')
      ? `${where}: permission denied; the user tsgi runs as must be able to write the socket's directory`
      : `${where}: permission denied; ports below 1024 need root (or CAP_NET_BIND_SERVICE): use a port of 1024 or more, or start as root with --user`);
  }
  if (code === 'EADDRNOTAVAIL') return new GatewayError('ERR_LISTEN', `${where}: no such address on this machine; use 127.0.0.1, 0.0.0.0 or one of its addresses`);
  return new GatewayError('ERR_LISTEN', `${where}: ${err instanceof Error ? err.message : String(err)}`);
}

let tookSystemdFds = false;

/** True once systemdFds() took this process's sockets from systemd (the variables are gone then). */
export function listensOnSystemdFds(): boolean {
  return tookSystemdFds;
}

/**
 * systemd socket activation (sd_listen_fds(3)): with LISTEN_PID naming this
 * process, LISTEN_FDS sockets start at fd 3. The variables are removed so
 * that a child process does not take them for its own.
 */
export function systemdFds(): number[] {
  const pid = process.env.LISTEN_PID;
  const n = Number(process.env.LISTEN_FDS);
  if (pid === undefined || Number(pid) !== process.pid || !Number.isInteger(n) || n < 1) return [];
  tookSystemdFds = true;
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_FDNAMES;
  return Array.from({ length: n }, (_, i) => 3 + i);
}

/** listen(2) on `arg`; the backlog goes as an argument of its own, the only place Node reads it for an `fd`. */
function listenOn(server: Server, arg: object, backlog: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(arg, backlog, () => { server.off('error', onError); resolve(); });
  });
}

/**
 * Starts `server` listening as `opts` says. Returns the address and a
 * function that removes the socket file (if it is still the one made here).
 */
export async function listen(net: NetModule, server: Server, opts: ListenOptions): Promise<{ address: ListenAddress; cleanup: () => void }> {
  if (opts.socket !== undefined) {
    const path = opts.socket;
    const ino = await bindUnix(net, { ...opts, socket: path }, () => listenOn(server, { path }, opts.backlog ?? DEFAULT_BACKLOG), () => server.close());
    const cleanup = (): void => {
      // S5: remove the file on exit, unless another process has put its own socket there since.
      try {
        if (lstatSync(path).ino === ino) unlinkSync(path);
      } catch { /* already gone */ }
    };
    return { address: { kind: 'unix', path, text: `unix:${path}` }, cleanup };
  }
  if (opts.port !== undefined) {
    const host = opts.host ?? '127.0.0.1';
    const shown = host.includes(':') ? `[${host}]` : host;
    try {
      await listenOn(server, { host, port: opts.port }, opts.backlog ?? DEFAULT_BACKLOG);
    } catch (err) {
      throw listenError(err, `${shown}:${opts.port}`);
    }
    const a = server.address();
    const port = a !== null && typeof a === 'object' ? a.port : opts.port;
    return { address: { kind: 'tcp', host, port, text: `${shown}:${port}` }, cleanup: () => {} };
  }
  const fd = opts.fd ?? 0;
  let socket = false;
  try {
    socket = fstatSync(fd).isSocket();
  } catch { /* closed fd */ }
  if (!socket) {
    throw new GatewayError('ERR_LISTEN',
      `no --socket or --bind given, and fd ${fd} is not a listening socket (it is when mod_fcgid or spawn-fcgi starts the app)`);
  }
  try {
    await listenOn(server, { fd }, opts.backlog ?? DEFAULT_BACKLOG);
  } catch (err) {
    throw new GatewayError('ERR_LISTEN', `fd ${fd} is not a listening socket (${(err as Error).message}); give --socket PATH or --bind HOST:PORT`);
  }
  return { address: { kind: 'fd', fd, text: `fd ${fd}` }, cleanup: () => {} };
}

/**
 * F12: FCGI_WEB_SERVER_ADDRS — a comma-separated list of the addresses a TCP
 * listener accepts connections from. Returns null when every peer is allowed.
 */
export function peerFilter(list: string | readonly string[] | undefined): ((socket: Socket) => boolean) | null {
  if (list === undefined) return null;
  const items = (typeof list === 'string' ? list.split(',') : list).map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) return null;
  const allowed = new Set(items.map(plainAddress));
  return (socket) => allowed.has(plainAddress(socket.remoteAddress ?? ''));
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) → `10.0.0.1`. */
function plainAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a.toLowerCase();
}
