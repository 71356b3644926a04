/**
 * X4 on the dev HTTP server: `environ['tsgi.early_hints'](headers)` sends an
 * interim `103 Early Hints` (RFC 8297) before the response, through
 * node:http's writeEarlyHints, which keeps it in order with pipelined
 * responses and writes the Link header first.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ContractError } from '../contract/errors.js';
import { checkHeaders } from '../contract/head.js';
import type { EarlyHints } from '../gateway/environ.js';

/**
 * The request's early-hints callable. Headers are checked as start_response
 * checks them (C12: latin-1, no CR/LF, valid names). A 103 is sent only
 * with a Link header in it (what it is for; node:http sends none without
 * one), before the head, and to an HTTP/1.1 client: an HTTP/1.0 client must
 * not get a 1xx (RFC 9110 §15.2). Otherwise it does nothing.
 */
export function earlyHintsFor(req: IncomingMessage, res: ServerResponse): EarlyHints {
  return (headers) => {
    const checked = checkHeaders(headers).pairs;
    if (res.headersSent || res.destroyed || req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) return;
    const link: string[] = [];
    const hints: Record<string, string | string[]> = { link };
    for (const [name, value] of checked) {
      if (name.toLowerCase() === 'link') link.push(value);
      else hints[name] = hints[name] === undefined ? value : `${String(hints[name])}, ${value}`;
    }
    if (link.length === 0) return;
    try {
      res.writeEarlyHints(hints);
    } catch (err) {
      throw new ContractError('ERR_BAD_HEADER', 'X4', `tsgi.early_hints: ${(err as Error).message}`);
    }
  };
}
