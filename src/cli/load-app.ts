/**
 * Loads `path/to/module[:name]` (the APP argument of every command). Without a
 * name: the default export, else `application`, else `app`. A TypeScript module
 * loads through Node's own type stripping where Node has it (22.18+, 24), and
 * otherwise through tsx, an optional peer dependency registered only then.
 * What the export is — an environ app, a Node request listener or a fetch
 * handler — is told by `--interface`, or recognised by its shape (B1).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { dynamicImport } from '../contract/dynamic-import.js';
import { GatewayError } from '../contract/errors.js';
import { log } from '../contract/log.js';
import type { App } from '../contract/types.js';
import { describeLoadError, nearestPackage } from './load-error.js';

const TS = /\.(?:ts|mts|cts|tsx)$/;
const NAME = /^[A-Za-z_$][\w$]*$/;
let tsRegistered = false;

/** Splits `path[:name]`; a ':' only separates a name that is a JS identifier. */
export function parseAppSpec(spec: string): { path: string; name: string | undefined } {
  const i = spec.lastIndexOf(':');
  if (i > 0 && NAME.test(spec.slice(i + 1))) return { path: spec.slice(0, i), name: spec.slice(i + 1) };
  return { path: spec, name: undefined };
}

/**
 * require() loads an ES module several milliseconds sooner than import() where
 * Node allows it (`process.features.require_module`; off under
 * --no-experimental-require-module): that is most
 * of a CGI request's start-up (bench:cgi). Modules with top-level await, and
 * TypeScript through tsx, still go through import().
 */
async function importModule(file: string): Promise<Record<string, unknown>> {
  const features = process.features as { require_module?: boolean; typescript?: string | false };
  if (features.require_module === true && (!TS.test(file) || Boolean(features.typescript))) {
    try {
      const loaded: unknown = createRequire(file)(file);
      if (loaded !== null && typeof loaded === 'object' && (loaded as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === 'Module') {
        return loaded as Record<string, unknown>;
      }
      // A CommonJS module: shaped as import() would give it.
      return { ...(loaded !== null && typeof loaded === 'object' ? loaded : {}), default: loaded };
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
    }
  }
  return (await dynamicImport(pathToFileURL(file).href)) as Record<string, unknown>;
}

/** The `type` of the package.json nearest to `file` ('commonjs' when there is none). */
function packageType(file: string): string {
  return nearestPackage(file)?.type ?? 'commonjs';
}

/**
 * importModule() for an app, choosing who compiles a `.ts` file. Node's type
 * stripping loads a `.ts` file in a CommonJS package (`npm init` writes
 * `"type": "commonjs"`) as CommonJS, so `export default` there is a syntax
 * error, where tsx compiles it: in that case, if tsx is installed, tsx loads
 * it. Otherwise Node's own type stripping does, where Node has it.
 */
async function importTs(file: string): Promise<Record<string, unknown>> {
  const strips = Boolean((process.features as { typescript?: string | false }).typescript);
  if (strips && !tsRegistered && /\.tsx?$/.test(file) && packageType(file) !== 'module' && tsxManifest(file)) await registerTsx(file);
  return importModule(file);
}

/** tsx's package.json as found from the app's directory, else from the working directory. */
function tsxManifest(file: string): string | undefined {
  for (const parent of [file, resolve(process.cwd(), 'noop.js')]) {
    try {
      return createRequire(parent).resolve('tsx/package.json');
    } catch { /* next */ }
  }
  return undefined;
}

/**
 * Registers tsx's hooks: on a Node that cannot strip types (22 before
 * 22.18), or for a `.ts` file in a CommonJS package (see importTs).
 * tsx is found from the app's directory, else the working directory. Both
 * hooks: in a package without "type": "module" (npm's
 * default), Node loads a .ts file as CommonJS, through require(). tsx's ES
 * module API must be imported as an ES module (its CommonJS build registers a
 * path that does not exist), so its file is taken from tsx's "exports".
 */
async function registerTsx(file: string): Promise<void> {
  const manifest = tsxManifest(file);
  if (manifest === undefined) {
    throw new GatewayError('ERR_APP_LOAD',
      `${file}: Node ${process.version} cannot load TypeScript by itself; add tsx (npm install tsx), use Node 22.18 or later, or build the app to JavaScript`);
  }
  const exp = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports;
  const esm = await dynamicImport<typeof import('tsx/esm/api')>(pathToFileURL(resolve(dirname(manifest), exp['./esm/api']!.import.default)).href);
  esm.register();
  (createRequire(manifest)('tsx/cjs/api') as typeof import('tsx/cjs/api')).register();
  tsRegistered = true;
}

/** How the exported value is called: `--interface` (B1). */
export type Interface = 'auto' | 'environ' | 'node' | 'fetch';
/** The accepted `--interface` values. */
export const INTERFACES: readonly Interface[] = ['auto', 'environ', 'node', 'fetch'];

type Bridges = typeof import('../bridges/from-node-listener.js') & typeof import('../bridges/from-fetch.js') & typeof import('../bridges/from-node-server.js');
/** The bridges are their own bundle (tsgi/bridges): an environ app never loads them (CGI start-up). */
const bridges = (): Promise<Bridges> => dynamicImport<Bridges>('tsgi/bridges');

const isFn = (v: unknown): v is (...a: unknown[]) => unknown => typeof v === 'function';
const has = (v: unknown, k: string): boolean => v !== null && (typeof v === 'object' || typeof v === 'function') && isFn((v as Record<string, unknown>)[k]);

/**
 * What `auto` can tell without guessing: an object with `fetch` (Hono,
 * itty-router, `{ fetch }`); an Express or Connect app (a function with
 * `handle` and `use`); a Koa app (`callback` and `use`); a Fastify instance
 * (`routing` and `ready`); an `http.Server` (W1). A bare function is an environ app: `(environ,
 * startResponse)` and `(req, res)` cannot be told apart by their shape.
 */
export function detectInterface(v: unknown): Exclude<Interface, 'auto'> | undefined {
  if (isServer(v)) return 'node';
  if (has(v, 'fetch') && !isFn(v)) return 'fetch';
  if (isFn(v) && has(v, 'handle') && has(v, 'use')) return 'node';
  if (has(v, 'callback') && has(v, 'use')) return 'node';
  if (has(v, 'routing') && has(v, 'ready')) return 'node';
  if (isFn(v)) return 'environ';
  return undefined;
}

/** An http.Server (or https.Server): node:http's own shape, not an Express app's (which also has listen). */
function isServer(v: unknown): v is import('node:http').Server {
  return !isFn(v) && has(v, 'listen') && has(v, 'listeners') && has(v, 'closeAllConnections') && typeof (v as { listening?: unknown }).listening === 'boolean';
}

/**
 * W1: an exported http.Server serves through tsgi's socket, never its own. One
 * the module already made listen would take connections tsgi never sees (and,
 * with --workers, fail in every worker but one): the load stops and says so.
 */
async function fromServer(v: import('node:http').Server, where: string): Promise<App> {
  // listen(port, host) binds after a lookup, a turn of the event loop later.
  if (!v.listening) await new Promise((r) => setImmediate(r));
  if (v.listening) {
    const a = v.address();
    const at = a === null ? '' : typeof a === 'string' ? ` on ${a}` : ` on ${a.address}:${a.port}`;
    v.close();
    throw new GatewayError('ERR_APP_LOAD', `${where} is an http.Server that is listening${at} (the module called listen()): tsgi listens for it; remove the listen() call`);
  }
  // One whose listen() is still on its way (a host name to look up) is stopped when it gets there.
  v.once('listening', () => {
    log('error', `${where}: the module called listen() on its http.Server; tsgi serves it on its own socket, so that listener is closed`);
    v.close();
  });
  return (await bridges()).fromNodeServer(v);
}

/** Turns the exported value into an app for `iface`. */
export async function toApp(v: unknown, iface: Interface, where: string): Promise<App> {
  const kind = iface === 'auto' ? detectInterface(v) : iface;
  if (kind === 'environ') {
    if (!isFn(v)) throw new GatewayError('ERR_APP_LOAD', `${where} is a ${typeof v}, not an (environ, startResponse) function`);
    return iface === 'auto' ? hinted(v as App, where) : v as App;
  }
  if (kind === 'fetch') {
    if (!isFn(v) && !has(v, 'fetch')) throw new GatewayError('ERR_APP_LOAD', `${where} is neither a (Request) => Response function nor an object with fetch()`);
    // Node's global Response is left alone unless the operator asks for the lighter one (docs/bridges.md).
    const lightResponse = process.env.TSGI_FETCH_RESPONSE === 'light';
    return (await bridges()).fromFetch(v as Parameters<Bridges['fromFetch']>[0], { lightResponse });
  }
  if (kind === 'node') {
    if (isServer(v)) return fromServer(v, where);
    let listener: unknown = v;
    if (has(v, 'routing') && has(v, 'ready')) {
      // Fastify: routes are registered once ready() has run; routing is its (req, res) entry.
      await (v as { ready(): Promise<unknown> }).ready();
      listener = (v as { routing: unknown }).routing;
    } else if (!isFn(v) && has(v, 'callback')) {
      listener = (v as { callback(): unknown }).callback(); // Koa
    }
    if (!isFn(listener)) throw new GatewayError('ERR_APP_LOAD', `${where} is a ${typeof v}, not a (req, res) listener`);
    return (await bridges()).fromNodeListener(listener as Parameters<Bridges['fromNodeListener']>[0]);
  }
  throw new GatewayError('ERR_APP_LOAD', `${where} is a ${v === null ? 'null' : typeof v}: export an app function, a (req, res) listener or a fetch handler`);
}

/**
 * Under `auto`, a bare function is taken for an environ app. If the first
 * request shows it is not one (it never called startResponse and returned
 * nothing, a Response, or threw), say which flag runs it.
 */
function hinted(app: App, where: string): App {
  let first = true;
  const wrapped: App = (environ, startResponse) => {
    if (!first) return app(environ, startResponse);
    first = false;
    let started = false;
    const hint = (v: unknown, threw: boolean): void => {
      if (started) return;
      const fetchLike = typeof Response === 'function' && v instanceof Response;
      if ((v === undefined && !threw ? true : threw) || fetchLike) {
        log('error', `${where} did not act as an environ app (environ, startResponse); ` +
          `if it is a Node (req, res) listener, run it with --interface node; a (Request) => Response handler, --interface fetch`);
      }
    };
    let r: ReturnType<App>;
    try {
      r = app(environ, (status, headers, excInfo) => { started = true; return startResponse(status, headers, excInfo); });
    } catch (err) {
      hint(undefined, err instanceof TypeError);
      throw err;
    }
    if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
      return (r as Promise<Awaited<ReturnType<App>>>).then((v) => { hint(v, false); return v; }, (err: unknown) => { hint(undefined, err instanceof TypeError); throw err; });
    }
    hint(r, false);
    return r;
  };
  // The app keeps its name (logs, tests).
  Object.defineProperty(wrapped, 'name', { value: app.name });
  return wrapped;
}

/** Imports the module named by `spec` and returns its app. */
export async function loadApp(spec: string, cwd = process.cwd(), iface: Interface = 'auto'): Promise<App> {
  const { path, name } = parseAppSpec(spec);
  if (!path) throw new GatewayError('ERR_APP_LOAD', 'APP is missing: give path/to/module[:name]');
  const file = resolve(cwd, path);
  if (TS.test(file) && !tsRegistered && !(process.features as { typescript?: string | false }).typescript) await registerTsx(file);
  let mod: Record<string, unknown>;
  try {
    mod = await importTs(file);
  } catch (err) {
    // The path, line, column and stack of the fault: the first thing a deployment log must say.
    const e = new GatewayError('ERR_APP_LOAD', describeLoadError(file, err));
    (e as { cause?: unknown }).cause = err;
    throw e;
  }
  // An ES module compiled to CommonJS (a .ts file in a CommonJS package) arrives
  // as { default: { __esModule, default, … } }: its exports are one level down.
  const inner = mod.default;
  if (inner !== null && typeof inner === 'object' && (inner as { __esModule?: unknown }).__esModule === true) mod = inner as Record<string, unknown>;
  const candidates = name ? [name] : ['default', 'application', 'app'];
  for (const key of candidates) {
    const v = mod[key];
    if (v === undefined || v === null) continue;
    if (isFn(v) || iface !== 'auto' || detectInterface(v) !== undefined) return toApp(v, iface, `${file}: export "${key}"`);
    if (name) throw new GatewayError('ERR_APP_LOAD', `${file}: export "${key}" is a ${typeof v}, not an app function`);
  }
  throw new GatewayError('ERR_APP_LOAD',
    name ? `${file} has no export named "${name}"` : `${file} exports no app: export default, "application" or "app" (or name it: ${path}:name)`);
}
