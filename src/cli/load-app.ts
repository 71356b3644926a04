/**
 * Loads `path/to/module[:name]` (the APP argument of every command). Without a
 * name: the default export, else `application`, else `app`. A TypeScript module
 * registers the tsx loader first, and only then.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { dynamicImport } from '../contract/dynamic-import.js';
import { GatewayError } from '../contract/errors.js';
import type { App } from '../contract/types.js';

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
 * Node supports it (20.19+, `process.features.require_module`): that is most
 * of a CGI request's start-up (bench:cgi). Modules with top-level await, and
 * TypeScript through tsx, still go through import().
 */
async function importModule(file: string): Promise<Record<string, unknown>> {
  const features = process.features as { require_module?: boolean };
  if (features.require_module === true && !TS.test(file)) {
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

/** Imports the module named by `spec` and returns its app. */
export async function loadApp(spec: string, cwd = process.cwd()): Promise<App> {
  const { path, name } = parseAppSpec(spec);
  if (!path) throw new GatewayError('ERR_APP_LOAD', 'APP is missing: give path/to/module[:name]');
  const file = resolve(cwd, path);
  if (TS.test(file) && !tsRegistered) {
    // Both of tsx's hooks: in a package without "type": "module" (npm's
    // default), Node loads a .ts file as CommonJS, through require().
    (await dynamicImport<typeof import('tsx/esm/api')>('tsx/esm/api')).register();
    (await dynamicImport<typeof import('tsx/cjs/api')>('tsx/cjs/api')).register();
    tsRegistered = true;
  }
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(file);
  } catch (err) {
    const e = new GatewayError('ERR_APP_LOAD', `cannot load app module ${file}: ${err instanceof Error ? err.message : String(err)}`);
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
    if (typeof v === 'function') return v as App;
    if (v !== undefined && name) {
      throw new GatewayError('ERR_APP_LOAD', `${file}: export "${key}" is a ${typeof v}, not an app function`);
    }
  }
  throw new GatewayError('ERR_APP_LOAD',
    name ? `${file} has no export named "${name}"` : `${file} exports no app: export default, "application" or "app" (or name it: ${path}:name)`);
}
