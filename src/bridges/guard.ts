/**
 * What happens to an exception thrown, asynchronously, while a request is in
 * a bridge: inside a framework's callback, a body parser's 'data' handler, a
 * timer the app set, or Node's own stream code. On node:http it reaches the
 * process as uncaught and the server dies with every request in it. Here it
 * fails the one request it was thrown for, as an app that raises (C18): 500
 * before the head went out, the response cut after; the error is written to
 * that request's `wsgi.errors` with its method and target; the process goes
 * on.
 *
 * Which request: each call into a bridged app runs inside an
 * AsyncLocalStorage holding its exchange, and Node gives every callback the
 * context it was made in, so the `'uncaughtException'` listener installed
 * here (once, ahead of any other) finds the request by asking the store. An
 * exception with no live exchange is left to whoever handles it otherwise:
 * the other listeners (tsgi's CLI logs it and restarts the process), or, if
 * this is the only listener, Node's default (printed, exit code 1).
 */
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import type { Environ } from '../contract/types.js';
import { requestTarget } from './target.js';

/** A request in a bridge, as the guard sees it. */
export interface Exchange {
  /** The request's environ: its `wsgi.errors`, method and target. */
  readonly environ: Environ;
  /** False once the request has left the bridge (its response closed). */
  readonly live: boolean;
  /**
   * Fails the request with `err`. True when the gateway will log the error
   * itself (the app's response failed: C18); false when the response had
   * already gone out whole, so that only the log is left.
   */
  fail(err: unknown): boolean;
  /** The request's async context, made by within(): what again() runs in. */
  scope: AsyncResource | undefined;
}

const store = new AsyncLocalStorage<Exchange>();

/**
 * The key, on `globalThis`, of the last exception a bridge took as its
 * request's: a process-wide slot (Symbol.for), since the CLI and an app may
 * load two copies of this module (the CLI's bundle, tsgi/bridges).
 */
const CLAIMED = Symbol.for('tsgi.bridgeClaimed');
const slots = globalThis as unknown as Record<symbol, unknown>;

let installed = false;
/** An exception no request owned is on its way to ending the process: the listener stays off. */
let ending = false;

/**
 * Calls the bridged app, `fn(a, b)`, with `exchange` as the request that every
 * callback made inside belongs to. One AsyncLocalStorage run per request: on
 * Node 24 and 26 a run costs a few hundred ns (it makes the context twice);
 * the gateway's later calls (again()) switch into the context made here,
 * which costs a few ns.
 */
export function within<A, B, T>(exchange: Exchange, fn: (a: A, b: B) => T, a: A, b: B): T {
  if (!installed && !ending) install();
  return store.run(exchange, enter, exchange, fn, a, b) as T;
}

function enter<A, B, T>(exchange: Exchange, fn: (a: A, b: B) => T, a: A, b: B): T {
  exchange.scope = new AsyncResource('tsgi.bridge');
  return fn(a, b);
}

/**
 * Runs `fn(a, b)` for the gateway (the body's next() and close()) as the
 * request's, so that what it emits to the app ('drain', 'finish', 'close',
 * the end of an unread body) and the callbacks made there are the request's too.
 */
export function again<A, B, T>(exchange: Exchange, fn: (a: A, b: B) => T, a: A, b: B): T {
  const scope = exchange.scope;
  return scope === undefined ? fn(a, b) : scope.runInAsyncScope(fn, null, a, b);
}

/**
 * True when `err`, just emitted as `'uncaughtException'`, was taken by a
 * bridge as its request's (and so must not stop the process). The CLI's
 * listener asks this first.
 */
export function claimedByBridge(err: unknown): boolean {
  return CLAIMED in slots && slots[CLAIMED] === err;
}

function install(): void {
  installed = true;
  // First in line: the others (the CLI's) run after it and ask claimedByBridge.
  process.prependListener('uncaughtException', onUncaught);
}

function onUncaught(err: unknown): void {
  const exchange = store.getStore();
  if (exchange === undefined || !exchange.live) {
    delete slots[CLAIMED];
    if (process.listenerCount('uncaughtException') === 1) {
      // Nobody else handles it: what Node does without a listener (the stack
      // on stderr, exit code 1), by throwing it again with this one gone.
      process.removeListener('uncaughtException', onUncaught);
      installed = false;
      ending = true;
      process.nextTick(rethrow, err);
    }
    return;
  }
  slots[CLAIMED] = err;
  thrown(exchange, err);
}

/** An exception thrown while `exchange` was in the bridge: fail the request and say so in its log. */
export function thrown(exchange: Exchange, err: unknown): void {
  const env = exchange.environ;
  let logged = false;
  try {
    logged = exchange.fail(err);
  } catch {
    /* failing the response must not throw here: the line below still says what happened */
  }
  const what = `${env.REQUEST_METHOD} ${safeTarget(env)}: an exception was thrown while the request was in the bridge; it fails this request only`;
  const detail = logged ? '' : `: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
  env['wsgi.errors'].write(`${what}${detail}\n`);
}

function rethrow(err: unknown): never {
  throw err;
}

function safeTarget(env: Environ): string {
  try {
    return requestTarget(env);
  } catch {
    return String(env.PATH_INFO);
  }
}
