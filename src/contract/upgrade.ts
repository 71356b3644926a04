/**
 * W1, W2: whether a request asks to switch protocols, told from its CGI
 * variables as node:http tells it from its headers: an `Upgrade` header and
 * `upgrade` among the tokens of `Connection` (RFC 9110 §7.8).
 */
import type { Environ } from './types.js';

const UPGRADE_TOKEN = /(?:^|,)[ \t]*upgrade[ \t]*(?:,|$)/i;

/** True when the request carries `Upgrade` and `Connection: upgrade`. */
export function wantsUpgrade(environ: Environ | Record<string, unknown>): boolean {
  const upgrade = environ.HTTP_UPGRADE;
  const connection = environ.HTTP_CONNECTION;
  return typeof upgrade === 'string' && upgrade !== '' && typeof connection === 'string' && UPGRADE_TOKEN.test(connection);
}
