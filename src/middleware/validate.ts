/**
 * `validate(app)`: checks both sides of the contract on every request and
 * throws a ContractError naming the broken rule (V1–V4 of docs/conformance.md,
 * and the C rules they cover). A development tool: turn it on with
 * `tsgi … --validate`, or wrap an app in tests.
 *
 * What the gateway must do after the app has returned (iterate the body to
 * its end or close it; call close() once) cannot be thrown into anyone: those
 * violations go to `onViolation`, by default the log.
 */
import { HTTPS_ON, OPTIONAL_VARS, REQUIRED_VARS } from '../contract/cgi-vars.js';
import { ContractError, GatewayError, type ErrorCode } from '../contract/errors.js';
import { checkHeaders, checkStatus, describe, isToken } from '../contract/head.js';
import { isLatin1 } from '../contract/latin1.js';
import { log } from '../contract/log.js';
import { WRAPPED_BODY, type App, type Body, type Environ, type Header, type StartResponse, type WsgiErrors, type WsgiInput } from '../contract/types.js';
import { isThenable } from './body.js';
import { CheckedErrors, CheckedInput } from './validate-streams.js';

/** Options of {@link validate}. */
export interface ValidateOptions {
  /**
   * Receives the violations found after the app returned, which cannot be
   * thrown (the gateway never closed the body). Default: the tsgi log, at
   * `error` (not wsgi.errors: the request may be over by then).
   */
  onViolation?: (error: ContractError) => void;
  /** How long the gateway has, after the body's iterator ended, to call close() (ms; default 2000). */
  closeGraceMs?: number;
}

const DIGITS = /^[0-9]+$/;

/** Wraps `app` so that every request through it is checked against the contract. */
export function validate(app: App, options: ValidateOptions = {}): App {
  if (typeof app !== 'function') {
    throw new GatewayError('ERR_BAD_OPTION', `validate(app): app must be a function, got ${describe(app)}`);
  }
  const grace = options.closeGraceMs ?? 2000;
  const validated: App = (environ, startResponse) => {
    checkEnviron(environ);
    // Not wsgi.errors: these are found after the request may be over, when its error stream is no longer its own.
    const report = options.onViolation ?? ((e: ContractError) => log('error', e.message));
    environ['wsgi.input'] = new CheckedInput(environ['wsgi.input']) as unknown as WsgiInput;
    environ['wsgi.errors'] = new CheckedErrors(environ['wsgi.errors']) as unknown as WsgiErrors;
    const run = new Checked(startResponse, report, grace);
    const result: unknown = app(environ, run.startResponse);
    if (isThenable(result)) return Promise.resolve(result).then((body) => run.body(body));
    return run.body(result);
  };
  return validated;
}

/** V1: the environ a gateway hands to the app (C1–C10, C21). */
export function checkEnviron(environ: unknown): asserts environ is Environ {
  if (environ === null || typeof environ !== 'object' || Array.isArray(environ)) {
    throw bad('C1', `environ must be a plain object, got ${describe(environ)}`);
  }
  const env = environ as Record<string, unknown>;
  for (const k of REQUIRED_VARS) {
    if (typeof env[k] !== 'string') throw bad('C2', `environ.${k} must be present as a string, got ${describe(env[k])}`);
  }
  if (!isToken(env.REQUEST_METHOD as string)) throw bad('C2', `REQUEST_METHOD ${describe(env.REQUEST_METHOD)} is not an HTTP method token`);
  for (const k of OPTIONAL_VARS) {
    if (k !== 'CONTENT_LENGTH' && env[k] === '') throw bad('C3', `environ.${k} is '': an optional variable without a value must be absent`);
  }
  const cl = env.CONTENT_LENGTH;
  if (cl !== undefined && cl !== '' && !(typeof cl === 'string' && DIGITS.test(cl))) {
    throw bad('C3', `CONTENT_LENGTH ${describe(cl)} must be absent, '' or digits`);
  }
  for (const k of Object.keys(env)) {
    if (k.includes('.')) continue; // wsgi.*, tsgi.* and other extensions
    const v = env[k];
    if (typeof v !== 'string') throw bad('C4', `environ.${k} must be a string (bytes-as-string), got ${describe(v)}`);
    if (!isLatin1(v)) throw bad('C4', `environ.${k} = ${describe(v)} has a character above U+00FF; values are bytes-as-string`);
  }
  const version = env['wsgi.version'];
  if (!Array.isArray(version) || version.length !== 2 || version[0] !== 1 || version[1] !== 0) {
    throw bad('C5', `wsgi.version must be [1, 0], got ${describe(version)}`);
  }
  const https = (typeof env.HTTPS === 'string' && HTTPS_ON.test(env.HTTPS)) ||
    (typeof env.REQUEST_SCHEME === 'string' && env.REQUEST_SCHEME.toLowerCase() === 'https');
  if (env['wsgi.url_scheme'] !== (https ? 'https' : 'http')) {
    throw bad('C5', `wsgi.url_scheme is ${describe(env['wsgi.url_scheme'])} but HTTPS/REQUEST_SCHEME say ${https ? 'https' : 'http'}`);
  }
  if (env['wsgi.multithread'] !== false) throw bad('C6', `wsgi.multithread must be false, got ${describe(env['wsgi.multithread'])}`);
  for (const k of ['wsgi.multiprocess', 'wsgi.run_once']) {
    if (typeof env[k] !== 'boolean') throw bad('C6', `${k} must be a boolean, got ${describe(env[k])}`);
  }
  for (const k of ['HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH']) {
    if (k in env) throw bad('C7', `environ.${k} must not exist: the value belongs in ${k.slice(5)}`);
  }
  const sn = env.SCRIPT_NAME as string;
  const pi = env.PATH_INFO as string;
  if (sn !== '' && sn.charCodeAt(0) !== 47) throw bad('C8', `SCRIPT_NAME ${describe(sn)} must be '' or start with '/'`);
  if (sn === '/') throw bad('C8', "SCRIPT_NAME must never be '/': an app at the root has SCRIPT_NAME ''");
  if (pi !== '' && pi.charCodeAt(0) !== 47) throw bad('C8', `PATH_INFO ${describe(pi)} must be '' or start with '/'`);
  const input = env['wsgi.input'] as Partial<WsgiInput> | undefined;
  if (!input || typeof input.read !== 'function' || typeof input.readline !== 'function' || typeof input.readlines !== 'function' ||
    typeof (input as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw bad('C9', `wsgi.input must have read(), readline(), readlines() and be iterable, got ${describe(input)}`);
  }
  const errors = env['wsgi.errors'] as Partial<WsgiErrors> | undefined;
  if (!errors || typeof errors.write !== 'function' || typeof errors.writelines !== 'function' || typeof errors.flush !== 'function') {
    throw bad('C10', `wsgi.errors must have write(), writelines() and flush(), got ${describe(errors)}`);
  }
  if ('wsgi.file_wrapper' in env && typeof env['wsgi.file_wrapper'] !== 'function') {
    throw bad('C21', `wsgi.file_wrapper must be a function, got ${describe(env['wsgi.file_wrapper'])}`);
  }
  if ('tsgi.early_hints' in env && typeof env['tsgi.early_hints'] !== 'function') {
    throw bad('X4', `tsgi.early_hints must be a function, got ${describe(env['tsgi.early_hints'])}`);
  }
}

function bad(rule: string, message: string, code: ErrorCode = 'ERR_BAD_ENVIRON'): ContractError {
  return new ContractError(code, rule, `validate: ${message}`);
}

type AnyIterator = Iterator<unknown> & Partial<AsyncIterator<unknown>>;

/** The state of one validated request: what the app and the gateway have done so far. */
class Checked {
  readonly #start: StartResponse;
  readonly #report: (e: ContractError) => void;
  readonly #grace: number;
  #started = false;
  #closed = false;
  #ended = false;   // the body's iterator finished (done, threw or was returned)
  #reported = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(start: StartResponse, report: (e: ContractError) => void, grace: number) {
    this.#start = start;
    this.#report = report;
    this.#grace = grace;
  }

  /** The app's startResponse: C11–C13, C15, V2; returns a checked write() (C16, C19). */
  readonly startResponse = (...args: unknown[]): ((data: Uint8Array) => void) => {
    if (args.length < 2 || args.length > 3) {
      throw bad('C11', `startResponse(status, headers[, excInfo]) was called with ${args.length} argument(s)`, 'ERR_BAD_STATUS');
    }
    const [status, headers, excInfo] = args;
    if (this.#started && (excInfo === undefined || excInfo === null)) {
      throw bad('C15', 'Headers already set: startResponse() was called a second time without excInfo', 'ERR_HEADERS_ALREADY_SET');
    }
    checkStatus(status);
    const code = Number(status.slice(0, 3));
    if (code < 100 || code > 599) throw bad('C11', `status code ${code} is outside 100–599`, 'ERR_BAD_STATUS');
    // H5: what was checked goes on, as a list of its own (the checked pairs are shared with
    // the next request): a getter or Proxy in the app's list is not read a second time.
    const checked = checkHeaders(headers).pairs.map((h): Header => [h[0], h[1]]);
    checkContentType(code, checked);
    const write: unknown = this.#start(status, checked, excInfo);
    if (typeof write !== 'function') throw bad('C16', `the gateway's startResponse returned ${describe(write)}, not a write() function`, 'ERR_BAD_BODY');
    this.#started = true;
    return (...data: unknown[]): void => {
      if (data.length !== 1) throw bad('C16', `write(data) takes one argument, got ${data.length}`, 'ERR_NOT_BYTES');
      const chunk = data[0];
      if (!(chunk instanceof Uint8Array)) throw bad('C19', `write() takes a Uint8Array, got ${describe(chunk)}; encode text first (Buffer.from(text))`, 'ERR_NOT_BYTES');
      if (this.#closed) throw bad('V4', 'write() was called after the body was closed', 'ERR_BODY_AFTER_CLOSE');
      (write as (c: Uint8Array) => void)(chunk);
    };
  };

  /** C19: what the app returned; wrapped so that the gateway's use of it is checked (C17, V4). */
  body(result: unknown): Body {
    if (result === null || result === undefined || typeof result === 'string' || result instanceof Uint8Array ||
      (typeof result !== 'object' && typeof result !== 'function')) {
      throw bad('C19', `the app must return an iterable of Uint8Array chunks (e.g. [Buffer.from(text)]), got ${describe(result)}`, 'ERR_BAD_BODY');
    }
    const original = result as Body;
    const isAsync = typeof (original as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
    if (!isAsync && typeof (original as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw bad('C19', `the app returned ${describe(result)}, which is neither iterable nor async iterable`, 'ERR_BAD_BODY');
    }
    const close = (): unknown => this.#close(original);
    if (Array.isArray(original)) {
      // An array stays an array (the gateway may send it in one write with a
      // Content-Length, C20), so its chunks are checked now.
      if (!this.#started) throw bad('C16', 'the app returned its body without calling startResponse()', 'ERR_NO_START_RESPONSE');
      for (let i = 0; i < original.length; i++) {
        if (!(original[i] instanceof Uint8Array)) {
          throw bad('C19', `body chunk #${i} is ${describe(original[i])}, not a Uint8Array; encode text first (Buffer.from(text))`, 'ERR_NOT_BYTES');
        }
      }
      const copy = Array.from(original) as Uint8Array[] & { close?: () => unknown };
      Object.defineProperty(copy, 'close', { value: close, enumerable: false });
      this.#watch(copy);
      return copy;
    }
    const wrapped = isAsync
      ? { [Symbol.asyncIterator]: () => this.#iterate((original as AsyncIterable<unknown>)[Symbol.asyncIterator]() as AnyIterator, true), close, [WRAPPED_BODY]: original }
      : { [Symbol.iterator]: () => this.#iterate((original as Iterable<unknown>)[Symbol.iterator]() as AnyIterator, false), close, [WRAPPED_BODY]: original };
    this.#watch(wrapped);
    return wrapped as Body;
  }

  #iterate(it: AnyIterator, isAsync: boolean): AnyIterator {
    const step = (r: unknown): IteratorResult<unknown> => this.#step(r);
    const ended = (err: unknown): never => { this.#end(); throw err; };
    const self: AnyIterator = {
      next: (): IteratorResult<unknown> | Promise<IteratorResult<unknown>> => {
        if (this.#closed) throw bad('V4', 'the body was iterated after close()', 'ERR_BODY_AFTER_CLOSE');
        let r: unknown;
        try {
          r = it.next();
        } catch (err) {
          ended(err);
        }
        return isAsync ? Promise.resolve(r).then(step, ended) : step(r);
      },
      return: (value?: unknown): IteratorResult<unknown> | Promise<IteratorResult<unknown>> => {
        this.#end();
        if (typeof it.return === 'function') return it.return(value) as IteratorResult<unknown>;
        const done = { done: true as const, value };
        return isAsync ? Promise.resolve(done) : done;
      },
    } as AnyIterator;
    (self as unknown as Record<symbol, unknown>)[isAsync ? Symbol.asyncIterator : Symbol.iterator] = () => self;
    return self;
  }

  /** One result of the body's iterator: C16 (startResponse first), C19 (bytes). */
  #step(r: unknown): IteratorResult<unknown> {
    if (r === null || typeof r !== 'object') {
      this.#end();
      throw bad('C19', `the body's iterator returned ${describe(r)} from next(), not an iterator result`, 'ERR_BAD_BODY');
    }
    const res = r as IteratorResult<unknown>;
    if (res.done) {
      this.#end();
      if (!this.#started) throw bad('C16', 'the body ended without startResponse() having been called', 'ERR_NO_START_RESPONSE');
      return res;
    }
    if (!this.#started) throw bad('C16', 'the body produced a chunk before startResponse() was called', 'ERR_NO_START_RESPONSE');
    if (!(res.value instanceof Uint8Array)) {
      throw bad('C19', `a body chunk is ${describe(res.value)}, not a Uint8Array; encode text first (Buffer.from(text))`, 'ERR_NOT_BYTES');
    }
    return res;
  }

  /** C17: the gateway calls close() exactly once. */
  #close(original: Body): unknown {
    if (this.#closed) throw bad('C17', 'close() of the response body was called a second time', 'ERR_BAD_BODY');
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const close = (original as { close?: unknown }).close;
    return typeof close === 'function' ? close.call(original) : undefined;
  }

  /** The iterator is finished: close() must follow (C17). */
  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      if (!this.#closed) this.violation(bad('C17', `the body's iterator finished but the gateway did not call close() within ${this.#grace} ms`, 'ERR_BODY_NOT_CLOSED'));
    }, this.#grace);
    this.#timer.unref?.();
  }

  /** V4: a body dropped by the gateway without being finished or closed is found when it is collected. */
  #watch(body: object): void {
    FINALIZE.register(body, this);
  }

  /** @internal called when the body was garbage-collected. */
  collected(): void {
    if (this.#closed) return;
    this.violation(this.#ended
      ? bad('C17', 'the gateway never called close() on the response body', 'ERR_BODY_NOT_CLOSED')
      : bad('V4', 'the response body was neither iterated to its end nor closed', 'ERR_BODY_NOT_CLOSED'));
  }

  violation(e: ContractError): void {
    if (this.#reported) return;
    this.#reported = true;
    this.#report(e);
  }
}

const FINALIZE = new FinalizationRegistry<Checked>((run) => run.collected());

/** V2: Content-Type on every response but 1xx, 204 and 304; never on 204 and 304. */
function checkContentType(code: number, headers: Header[]): void {
  const has = headers.some((h) => h[0].length === 12 && h[0].toLowerCase() === 'content-type');
  if (code === 204 || code === 304) {
    if (has) throw bad('V2', `a ${code} response must not have a Content-Type header`, 'ERR_CONTENT_TYPE');
  } else if (code >= 200 && !has) {
    throw bad('V2', `a ${code} response needs a Content-Type header`, 'ERR_CONTENT_TYPE');
  }
}
