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
 * no listener but the bridges' own is there, Node's default (printed, exit
 * code 1).
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
 * What every copy of this module in the process shares (the CLI's bundle and
 * tsgi/bridges are two; an app may bring a third): the exceptions a bridge
 * took as its request's, and whether one no request owned is ending the
 * process. On `globalThis`, under a Symbol.for key.
 */
interface Shared {
  claimed: WeakSet<object>;
  /** The last claimed exception that is not an object (a thrown string). */
  claimedValue: unknown;
  ending: boolean;
}
const shared = ((globalThis as unknown as Record<symbol, Shared | undefined>)[Symbol.for('tsgi.bridgeGuard')] ??= {
  claimed: new WeakSet(), claimedValue: undefined, ending: false,
});
/** Marks the 'uncaughtException' listener of each copy. */
const GUARD = Symbol.for('tsgi.bridgeGuardListener');

let installed = false;

/**
 * Calls the bridged app, `fn(a, b)`, with `exchange` as the request that every
 * callback made inside belongs to. One AsyncLocalStorage run per request: on
 * Node 24 and 26 a run costs a few hundred ns (it makes the context twice);
 * the gateway's later calls (again()) switch into the context made here,
 * which costs a few ns.
 */
export function within<A, B, T>(exchange: Exchange, fn: (a: A, b: B) => T, a: A, b: B): T {
  if (!installed && !shared.ending) install();
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
  return typeof err === 'object' && err !== null ? shared.claimed.has(err) : err !== undefined && shared.claimedValue === err;
}

function install(): void {
  installed = true;
  // First in line: the others (the CLI's) run after it and ask claimedByBridge.
  const listener = (err: unknown): void => { onUncaught(err); };
  (listener as unknown as Record<symbol, boolean>)[GUARD] = true;
  process.prependListener('uncaughtException', listener);
}

const isGuard = (l: unknown): boolean => (l as Record<symbol, unknown>)[GUARD] === true;

function onUncaught(err: unknown): void {
  const exchange = store.getStore();
  if (exchange !== undefined && exchange.live) {
    if (typeof err === 'object' && err !== null) shared.claimed.add(err);
    else shared.claimedValue = err;
    thrown(exchange, err);
    return;
  }
  // Not a request of this copy's. With no listener but the guards, what Node
  // does without one (the stack on stderr, exit code 1) follows, unless
  // another copy's guard claims it: looked at once they have all run.
  if (process.listeners('uncaughtException').every(isGuard)) process.nextTick(endUnlessClaimed, err);
}

function endUnlessClaimed(err: unknown): void {
  if (claimedByBridge(err) || shared.ending) return;
  shared.ending = true;
  for (const l of process.listeners('uncaughtException')) if (isGuard(l)) process.removeListener('uncaughtException', l as (e: Error) => void);
  throw err;
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

function safeTarget(env: Environ): string {
  try {
    return requestTarget(env);
  } catch {
    return String(env.PATH_INFO);
  }
}
