/**
 * `res.headersSent` for the bridge's ServerResponse (B2). node:http answers
 * it, and refuses setHeader & co. with ERR_HTTP_HEADERS_SENT, by reading the
 * response's `_header` field, the head it wrote: the bridge sets that field
 * when the head is final (node-response.ts), as compression, on-headers and
 * other middleware read it too. That is a private field (docs/internals.md);
 * whether this Node still reads it is checked once, on a probe. Where it does
 * not, each response gets its own `headersSent` and guarded header setters.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { nodeInternal } from '../contract/node-internals.js';
import { nodeError } from './response-head.js';

/** True when node:http's headersSent and setHeader follow `_header` in this Node. */
export const HEADER_FIELD: boolean = nodeInternal('_header') && (() => {
  try {
    const probe = new ServerResponse(new IncomingMessage(null as never));
    (probe as unknown as { _header: string })._header = 'HTTP/1.1 200 OK\r\n\r\n';
    if (probe.headersSent !== true) return false;
    probe.setHeader('X-Probe', 'a');
    return false;
  } catch (err) {
    return (err as { code?: string }).code === 'ERR_HTTP_HEADERS_SENT';
  }
})();

const SETTERS = ['setHeader', 'appendHeader', 'removeHeader', 'setHeaders'] as const;

/**
 * Gives `res` its own `headersSent` (from `sent`) and header setters that
 * refuse once it is true, as node:http's do: for a Node where `_header` no
 * longer does that. Own properties, so that they stay when Express swaps the
 * prototype.
 */
export function ownHeadersSent(res: ServerResponse, sent: () => boolean): void {
  Object.defineProperty(res, 'headersSent', { get: sent, configurable: true, enumerable: false });
  const own = res as unknown as Record<string, unknown>;
  for (const name of SETTERS) {
    const setter = (ServerResponse.prototype as unknown as Record<string, ((...a: unknown[]) => unknown) | undefined>)[name];
    if (typeof setter !== 'function') continue;
    own[name] = function guarded(this: ServerResponse, ...a: unknown[]): unknown {
      if (sent()) throw nodeError('ERR_HTTP_HEADERS_SENT', `Cannot ${name === 'removeHeader' ? 'remove' : 'set'} headers after they are sent to the client`);
      return setter.apply(this, a);
    };
  }
}
