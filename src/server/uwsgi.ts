/**
 * The uwsgi protocol server (U1–U8, S1–S6): `serveUwsgi` and `tsgi uwsgi`,
 * behind nginx `uwsgi_pass` and Apache `mod_proxy_uwsgi`. One request per
 * connection (one-shot.ts): a packet of vars, the raw body, then an HTTP/1.x
 * response delimited by closing the connection.
 */
import type { App } from '../contract/types.js';
import { environVars } from '../gateway/environ.js';
import { UwsgiDecoder, varsMemo } from '../protocol/uwsgi.js';
import { addCgiVar } from '../protocol/vars.js';
import { serveOneShot, type OneShotOptions, type OneShotProtocol } from './one-shot.js';
import type { SocketServer } from './socket-server.js';

/** Options of serveUwsgi. Every limit is on by default (S1). */
export type UwsgiOptions = OneShotOptions;

/** A running uwsgi server. */
export type UwsgiServer = SocketServer;

/** Every request's vars, stored for an environ (C3, C7), built against the request before. */
const ENVIRON_VARS = varsMemo(addCgiVar, environVars);

const PROTOCOL = /^HTTP\/\d\.\d$/;

/** Serves `app` over the uwsgi protocol. */
export function serveUwsgi(app: App, options: UwsgiOptions = {}): Promise<UwsgiServer> {
  return serveOneShot(app, options, (limits): OneShotProtocol<UwsgiDecoder> => {
    const vars = { maxCount: limits.params.maxCount };
    return {
      name: 'uwsgi',
      decoder: () => new UwsgiDecoder(vars, ENVIRON_VARS),
      take(decoder, chunk) {
        const got = decoder.push(chunk);
        return got === null ? null : { vars: got.packet.vars, rest: got.rest };
      },
      statusLine,
      // nginx tunnels a uwsgi connection after the app's own `HTTP/1.1 101 …` head.
      tunnelHead: null,
    };
  });
}

/**
 * U4: `HTTP/1.x NNN Reason\r\n` with the request's SERVER_PROTOCOL; HTTP/1.0
 * when it is absent or not HTTP; HTTP/1.1 for HTTP/2 and 3 (the web server
 * reads this head as HTTP/1).
 */
function statusLine(vars: Record<string, string>, status: string): string {
  const p = vars.SERVER_PROTOCOL;
  const proto = p === 'HTTP/1.1' || p === 'HTTP/1.0' ? p : p !== undefined && PROTOCOL.test(p) ? 'HTTP/1.1' : 'HTTP/1.0';
  return `${proto} ${status}\r\n`;
}
