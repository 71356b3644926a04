/**
 * The SCGI server (G1–G5, S1–S6): `serveScgi` and `tsgi scgi`, behind nginx
 * `scgi_pass`, Apache `mod_proxy_scgi` and lighttpd `mod_scgi`. One request
 * per connection (one-shot.ts): a netstring header, the body (exactly
 * CONTENT_LENGTH bytes), then a CGI-style response (`Status:` and headers)
 * delimited by closing the connection.
 */
import type { App } from '../contract/types.js';
import { environVars } from '../gateway/environ.js';
import { ScgiDecoder, varsMemo } from '../protocol/scgi.js';
import { addCgiVar } from '../protocol/vars.js';
import { serveOneShot, type OneShotOptions, type OneShotProtocol } from './one-shot.js';
import type { SocketServer } from './socket-server.js';
import { cgiStatusHead } from './tunnel.js';

/** Options of serveScgi. Every limit is on by default (S1). */
export type ScgiOptions = OneShotOptions;

/** A running SCGI server. */
export type ScgiServer = SocketServer;

/**
 * addCgiVar, and C3 for SCGI: G1 makes the web server send CONTENT_LENGTH 0
 * on every request without a body; it is not stored, so that the app sees it
 * absent, as under the other adapters (dropped as it arrives: a delete later
 * would put the environ in V8's slow dictionary mode).
 */
function addScgiVar(vars: Record<string, string>, name: string, value: string): void {
  if (!(value === '0' && name === 'CONTENT_LENGTH')) addCgiVar(vars, name, value);
}

/** Every request's vars, stored for an environ (C3, C7), built against the request before. */
const ENVIRON_VARS = varsMemo(addScgiVar, environVars);

/** Serves `app` over SCGI. */
export function serveScgi(app: App, options: ScgiOptions = {}): Promise<ScgiServer> {
  return serveOneShot(app, options, (limits): OneShotProtocol<ScgiDecoder> => {
    // G1, S1: the header's size and pair count have the limits of FastCGI params (maxVarsBytes, maxVars).
    const head = { ...limits.params };
    return {
      name: 'scgi',
      decoder: () => new ScgiDecoder(head, ENVIRON_VARS),
      take: (decoder, chunk) => decoder.push(chunk),
      // G2: a CGI-style head, the status as a Status header; header values are latin-1 bytes.
      statusLine: (_vars, status) => `Status: ${status}\r\n`,
      // W2: nginx tunnels an SCGI connection after `Status: 101 …`, so the app's `HTTP/1.1 101 …` line is rewritten to it.
      tunnelHead: cgiStatusHead,
    };
  });
}
