/**
 * The master's listening sockets (`--workers`): bound here, once, and
 * inherited by every worker, which accepts on them directly (the kernel
 * spreads connections; the master is never on a request's path and no
 * connection is handed between processes). The master binds but does not
 * listen itself, as node:cluster's shared handles do: a socket its own event
 * loop watched would take connections too. The first worker's listen(2)
 * puts the socket in the listening state, which outlives any one worker, so
 * a reload never refuses a connection.
 */
import { fstatSync, lstatSync, unlinkSync } from 'node:fs';
import * as net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { GatewayError } from '../contract/errors.js';
import { nodeInternal } from '../contract/node-internals.js';
import { bindUnix, listenError, type ListenAddress, type ListenOptions } from './listen.js';

/** A socket the master holds for its workers. */
export interface BoundSocket {
  /** The file descriptor the workers inherit. */
  readonly fd: number;
  readonly address: ListenAddress;
  /** Closes the master's copy and removes the socket file (if still ours). */
  close(): void;
}

interface RawHandle { fd: number; close(): void; getsockname?(out: Record<string, unknown>): number }
type CreateServerHandle = (address: string | null, port: number, addressType: number, fd?: number, flags?: number) => RawHandle | number;

/**
 * node:net's unlisted binder, the one node:cluster uses for its shared
 * handles: a bound socket, not listening, as a descriptor the workers inherit
 * (docs/internals.md says why no public API does the same). Without it (or
 * with it switched off) a socket the master would bind is refused with a
 * one-line error; an inherited one (`--fd`, socket activation) needs nothing.
 */
function createHandle(address: string | null, port: number, addressType: number): RawHandle | number {
  const make = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof make !== 'function' || !nodeInternal('_createServerHandle')) {
    throw new GatewayError('ERR_LISTEN', `this Node (${process.version}) cannot bind a socket for --workers to share: ` +
      'start without --workers, or pass a bound socket (--fd, systemd socket activation)');
  }
  return make(address, port, addressType);
}

function check(h: RawHandle | number, where: string): RawHandle {
  if (typeof h !== 'number') return h;
  const err = Object.assign(new Error(getSystemErrorName(h)), { code: getSystemErrorName(h) });
  throw listenError(err, where);
}

/** Binds what `opts` names (a unix path or TCP); an inherited fd is used as it is. */
export async function bindSocket(opts: ListenOptions): Promise<BoundSocket> {
  if (opts.socket !== undefined) {
    const path = opts.socket;
    let h: RawHandle | undefined;
    // P12: bound with its final mode (bindUnix narrows the umask around this synchronous bind).
    const ino = await bindUnix(net, { ...opts, socket: path }, () => { h = check(createHandle(path, -1, -1), `unix:${path}`); }, () => h?.close());
    const handle = h!;
    return {
      fd: handle.fd,
      address: { kind: 'unix', path, text: `unix:${path}` },
      close() {
        handle.close();
        try { if (lstatSync(path).ino === ino) unlinkSync(path); } catch { /* already gone */ }
      },
    };
  }
  if (opts.port !== undefined) {
    const host = opts.host ?? '127.0.0.1';
    const shown = host.includes(':') ? `[${host}]` : host;
    // A socket that only binds is not refused by the kernel where another process listens
    // (both set SO_REUSEADDR): ask the port first, so that a port in use is said, not shared.
    if (opts.port !== 0 && await answers(host, opts.port)) {
      throw listenError(Object.assign(new Error('EADDRINUSE'), { code: 'EADDRINUSE' }), `${shown}:${opts.port}`);
    }
    const h = check(createHandle(host, opts.port, net.isIP(host) || 4), `${shown}:${opts.port}`);
    const out: Record<string, unknown> = {};
    h.getsockname?.(out);
    const port = typeof out.port === 'number' ? out.port : opts.port;
    return { fd: h.fd, address: { kind: 'tcp', host, port, text: `${shown}:${port}` }, close: () => h.close() };
  }
  return inherited(opts.fd ?? 0);
}

/** True when something accepts connections on host:port. */
function answers(host: string, port: number): Promise<boolean> {
  const to = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return new Promise((resolve) => {
    const probe = net.connect({ host: to, port });
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
}

/** A listening socket this process inherited (fd 0 from mod_fcgid, fd 3+ from systemd). */
export function inherited(fd: number): BoundSocket {
  let socket = false;
  try { socket = fstatSync(fd).isSocket(); } catch { /* closed */ }
  if (!socket) {
    throw new GatewayError('ERR_LISTEN',
      `no --socket or --bind given, and fd ${fd} is not a listening socket (it is when systemd, mod_fcgid or spawn-fcgi starts tsgi)`);
  }
  return { fd, address: { kind: 'fd', fd, text: `fd ${fd}` }, close: () => {} };
}
