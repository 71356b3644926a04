/**
 * O1–O3: where the master's `/metrics` and control socket are, from the
 * settings; shared by the master (which listens there) and the `tsgi status`
 * family (which finds the socket the same way from the same options).
 */
import { basename, dirname, join, resolve } from 'node:path';
import { GatewayError } from '../contract/errors.js';
import { SOCKET_PATH_MAX, type ListenOptions } from '../server/listen.js';
import { parseBind, UsageError, type Values } from './options.js';

/** `--metrics HOST:PORT | :PORT | PORT | /path/to.sock` (a value with a slash is a unix socket). */
export function metricsAddress(values: Values, command?: string): ListenOptions | undefined {
  const raw = values.metrics;
  if (raw === undefined) return undefined;
  const text = String(raw);
  if (text.includes('/')) return { socket: resolve(text) };
  const bind = parseBind(text);
  if (bind === undefined) throw new UsageError(`--metrics ${text}: expected HOST:PORT, :PORT or the path of a unix socket`, command);
  return bind;
}

/**
 * The control socket: `--control PATH`, or `off`; by default next to the
 * pid file (`app.pid` → `app.ctl`), else next to the listening unix socket
 * (`app.sock` → `app.ctl`); with neither (TCP and no pid file), none unless
 * asked for. A path too long for a unix socket is an error when given, and
 * means no default socket otherwise (the master says so: `tooLong`).
 */
export function controlPath(values: Values, tooLong?: (path: string) => void): string | undefined {
  const given = values.control;
  if (given === 'off') return undefined;
  const next = (file: string, ext: RegExp): string => join(dirname(resolve(file)), `${basename(file).replace(ext, '')}.ctl`);
  const path = typeof given === 'string' ? resolve(given)
    : typeof values.pid === 'string' ? next(values.pid, /\.pid$/)
      : typeof values.socket === 'string' ? next(values.socket, /\.sock(et)?$/) : undefined;
  if (path === undefined || Buffer.byteLength(path) <= SOCKET_PATH_MAX) return path;
  if (typeof given === 'string') {
    throw new GatewayError('ERR_CONFIG', `--control ${path}: ${Buffer.byteLength(path)} bytes, longer than a unix socket path may be (${SOCKET_PATH_MAX} bytes here); choose a shorter path`);
  }
  tooLong?.(path);
  return undefined;
}
