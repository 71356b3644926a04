/**
 * A ResponseSink over node:http's ServerResponse: the head through
 * writeHead, body chunks through write() with node:http's own back-pressure.
 */
import type { ServerResponse } from 'node:http';
import type { Header } from '../contract/types.js';
import type { ResponseSink } from '../gateway/engine.js';

/** The engine's sink over a node:http ServerResponse (the dev server and toNodeListener). */
export class ServerResponseSink implements ResponseSink {
  /** The status code sent, 0 until the head went out (for the access log). */
  #res: ServerResponse;
  status = 0;
  /** Body bytes handed to the response. */
  bytes = 0;
  constructor(res: ServerResponse) {
    this.#res = res;
  }
  head(status: string, headers: readonly Header[], chunk: Uint8Array | null, last: boolean): void | Promise<void> {
    const flat: string[] = [];
    for (let i = 0; i < headers.length; i++) flat.push(headers[i]![0], headers[i]![1]);
    this.status = Number(status.slice(0, 3));
    this.#res.writeHead(this.status, status.slice(4), flat);
    if (last) {
      this.bytes += chunk ? chunk.length : 0;
      this.#res.end(chunk ?? undefined);
      return;
    }
    if (chunk) return this.write(chunk);
  }
  write(chunk: Uint8Array): void | Promise<void> {
    this.bytes += chunk.length;
    if (this.#res.write(chunk)) return;
    const res = this.#res;
    return new Promise((resolve) => {
      const done = (): void => { res.off('drain', done); res.off('close', done); resolve(); };
      res.on('drain', done);
      res.on('close', done);
    });
  }
  end(): void {
    this.#res.end();
  }
  abort(): void {
    this.#res.destroy();
  }
  #abandoned: (() => void) | undefined;
  /** Resolves when `--request-timeout` has given up on the request (abandon()): the server waits no longer. */
  abandoned(): Promise<void> {
    return new Promise((resolve) => { this.#abandoned = resolve; });
  }
  /** P6: the request timed out and was answered (request-life.ts Abandonable). */
  abandon(): void {
    this.#abandoned?.();
  }
}
