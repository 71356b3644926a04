/**
 * Loads `path/to/module[:name]` (the APP argument of every command). Without a
 * name: the default export, else `application`, else `app`. A TypeScript module
 * registers the tsx loader first, and only then.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
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

/** Imports the module named by `spec` and returns its app. */
export async function loadApp(spec: string, cwd = process.cwd()): Promise<App> {
  const { path, name } = parseAppSpec(spec);
  if (!path) throw new GatewayError('ERR_APP_LOAD', 'APP is missing: give path/to/module[:name]');
  const file = resolve(cwd, path);
  if (TS.test(file) && !tsRegistered) {
    const api = await import('tsx/esm/api');
    api.register();
    tsRegistered = true;
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    const e = new GatewayError('ERR_APP_LOAD', `cannot load app module ${file}: ${err instanceof Error ? err.message : String(err)}`);
    (e as { cause?: unknown }).cause = err;
    throw e;
  }
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
