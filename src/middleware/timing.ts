/**
 * `timing()`: how long the app took to decide its response, from the request
 * reaching this layer to its startResponse() call, as `Server-Timing` (shown
 * by browsers' developer tools) and/or `X-Response-Time`.
 */
import { GatewayError } from '../contract/errors.js';
import { isToken } from '../contract/head.js';
import type { Header } from '../contract/types.js';
import type { Middleware } from './compose.js';

/** Options of {@link timing}. */
export interface TimingOptions {
  /** Add `Server-Timing: <metric>;dur=<ms>` (default true). */
  serverTiming?: boolean;
  /** Add `X-Response-Time: <ms>ms` (default true). */
  responseTime?: boolean;
  /** The Server-Timing metric name, a token (default `app`). */
  metric?: string;
  /** Clock for tests: milliseconds, default performance.now(). */
  now?: () => number;
}

/** Adds time-to-headers response headers. */
export function timing(options: TimingOptions = {}): Middleware {
  const metric = options.metric ?? 'app';
  if (!isToken(metric)) throw new GatewayError('ERR_BAD_OPTION', `timing(): metric ${JSON.stringify(metric)} is not a token`);
  const st = options.serverTiming !== false;
  const rt = options.responseTime !== false;
  const now = options.now ?? (() => performance.now());
  return (app) => (environ, startResponse) => {
    const t0 = now();
    return app(environ, (status, headers, excInfo) => {
      const ms = (now() - t0).toFixed(3);
      const extra: Header[] = [];
      if (st) extra.push(['Server-Timing', `${metric};dur=${ms}`]);
      if (rt) extra.push(['X-Response-Time', `${ms}ms`]);
      // A new list: the app's own array is left as it made it.
      return startResponse(status, Array.isArray(headers) ? [...headers, ...extra] : headers, excInfo);
    });
  };
}
