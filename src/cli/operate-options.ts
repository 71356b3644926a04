/**
 * O1–O3: where the master's `/metrics` and control socket are, from the
 * settings; shared by the master (which listens there) and the `tsgi status`
 * family (which finds the socket the same way from the same options).
 */
import { basename, dirname, join, resolve } from 'node:path';
import type { ListenOptions } from '../server/listen.js';
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
 * asked for.
 */
export function controlPath(values: Values): string | undefined {
  const given = values.control;
  if (given === 'off') return undefined;
  if (typeof given === 'string') return resolve(given);
  const next = (file: string, ext: RegExp): string => join(dirname(resolve(file)), `${basename(file).replace(ext, '')}.ctl`);
  if (typeof values.pid === 'string') return next(values.pid, /\.pid$/);
  if (typeof values.socket === 'string') return next(values.socket, /\.sock(et)?$/);
  return undefined;
}
