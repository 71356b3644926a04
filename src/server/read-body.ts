/**
 * A node:http request's body read whole into a spool (memory, then a temp
 * file), because `wsgi.input` reads synchronously. Shared by the dev server
 * and toNodeListener.
 */
import type { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { BodySpool, type SpoolLimits } from '../gateway/spool.js';
import { GatewayError } from '../contract/errors.js';
import { LiveBody } from '../gateway/body-stream.js';

/**
 * X3: a node:http request's body as a LiveBody the app reads as it arrives.
 * Back-pressure is the request stream's own: paused, node:http stops reading
 * the socket, TCP's window fills and the client (or nginx) waits. Past
 * `maxBytes` the body fails with ERR_LIMIT_BODY and the socket is closed; a
 * client that leaves mid-body (or is timed out by requestTimeout) fails it.
 */
export function liveBody(req: IncomingMessage, maxBytes: number): LiveBody {
  const live = new LiveBody({ pause: () => req.pause(), resume: () => req.resume() }, maxBytes);
  const onData = (chunk: Buffer): void => {
    live.push(chunk);
    if (live.settled && !req.complete) { cleanup(); req.destroy(); }
  };
  const onEnd = (): void => { cleanup(); live.end(); };
  const onGone = (): void => {
    if (req.complete) return;
    cleanup();
    live.fail(new GatewayError('ERR_BAD_REQUEST_BODY', 'the client closed the connection during the body'));
  };
  const cleanup = (): void => {
    req.off('data', onData); req.off('end', onEnd); req.off('error', onGone); req.off('close', onGone);
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onGone);
  req.on('close', onGone);
  return live;
}

/**
 * Resolves with the spooled body; rejects with the spool's ERR_LIMIT_BODY
 * past the limit, or an Error when the client goes away mid-body.
 * `expected` is the declared length (0 for chunked). A stream that a body
 * parser has already consumed is an empty body.
 */
export function readRequestBody(req: IncomingMessage, limits: SpoolLimits, expected: number): Promise<BodySpool> {
  const spool = new BodySpool(limits, expected);
  if (req.readableEnded || (req.complete && req.readableLength === 0 && !req.readable)) return Promise.resolve(spool);
  return new Promise((resolve, reject) => {
    const fail = (err: unknown): void => { cleanup(); spool.dispose(); req.resume(); reject(err); };
    const onData = (chunk: Buffer): void => {
      try { spool.push(chunk); } catch (err) { fail(err); }
    };
    const onEnd = (): void => { cleanup(); resolve(spool); };
    const onClose = (): void => { if (!req.readableEnded && !req.complete) fail(new Error('client closed the connection during the body')); };
    const cleanup = (): void => {
      req.off('data', onData); req.off('end', onEnd); req.off('error', fail); req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', fail);
    req.on('close', onClose);
  });
}
