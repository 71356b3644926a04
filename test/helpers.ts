// Shared test helpers: run an app through the engine against a sink that
// frames exactly like the CGI adapter, and records every call.
import { Buffer } from 'node:buffer';
import type { App, Environ, Header } from '../src/contract/types.js';
import { RequestAbort } from '../src/gateway/abort.js';
import { runApp, type ResponseSink } from '../src/gateway/engine.js';
import { completeEnviron } from '../src/gateway/environ.js';
import { ErrorStream } from '../src/gateway/errors-stream.js';
import { InputStream, MemorySource } from '../src/gateway/input.js';
import { cgiHead } from '../src/protocol/cgi.js';

export class RecordingSink implements ResponseSink {
  events: string[] = [];
  out: Buffer[] = [];
  ended = false;
  aborted: unknown = undefined;
  /** When set, write() returns this promise (simulated backpressure). */
  gate: Promise<void> | undefined;
  head(status: string, headers: Header[], chunk: Uint8Array | null, last: boolean): void | Promise<void> {
    this.events.push(`head ${status} ${chunk ? chunk.length : 0}${last ? ' last' : ''}`);
    this.out.push(Buffer.from(cgiHead(status, headers), 'latin1'));
    if (chunk) this.out.push(Buffer.from(chunk));
    if (last) this.ended = true;
  }
  write(chunk: Uint8Array): void | Promise<void> {
    this.events.push(`write ${chunk.length}`);
    this.out.push(Buffer.from(chunk));
    return this.gate;
  }
  end(): void {
    this.events.push('end');
    this.ended = true;
  }
  abort(reason: unknown): void {
    this.events.push('abort');
    this.aborted = reason ?? true;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.out);
  }
  get text(): string {
    return this.bytes.toString('latin1');
  }
}

export interface Ran {
  sink: RecordingSink;
  errors: string;
  environ: Environ;
  controller: RequestAbort;
}

export function makeEnviron(vars: Record<string, string> = {}, body?: Buffer): { environ: Environ; log: string[]; controller: RequestAbort } {
  const log: string[] = [];
  const controller = new RequestAbort();
  const b = body ?? Buffer.alloc(0);
  const environ = completeEnviron({
    REQUEST_METHOD: 'GET', SERVER_NAME: 'test', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1',
    PATH_INFO: '/', QUERY_STRING: '', SCRIPT_NAME: '', ...(b.length ? { CONTENT_LENGTH: String(b.length) } : {}), ...vars,
  }, {
    input: new InputStream(new MemorySource(b), b.length),
    errors: new ErrorStream((t) => log.push(t)),
    abort: controller,
    multiprocess: false,
    runOnce: false,
  });
  return { environ, log, controller };
}

/** Runs `app` once; `during` may act (e.g. abort) while the run is in flight. */
export async function run(app: App, vars: Record<string, string> = {}, opts: { body?: Buffer; sink?: RecordingSink; during?: (r: Ran) => void } = {}): Promise<Ran> {
  const { environ, log, controller } = makeEnviron(vars, opts.body);
  const sink = opts.sink ?? new RecordingSink();
  const r: Ran = { sink, get errors() { return log.join(''); }, environ, controller } as Ran;
  const p = runApp(app, environ, sink, controller);
  opts.during?.(r);
  await p;
  return r;
}

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');
export const tick = (ms = 5): Promise<void> => new Promise((res) => setTimeout(res, ms));
