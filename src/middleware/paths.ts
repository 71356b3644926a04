/**
 * Which requests a middleware applies to: URL-path prefixes matched at a
 * segment boundary (`/admin` matches `/admin` and `/admin/x`, never
 * `/administrator`), regular expressions, or a function of the environ.
 * Paths are the app's own: PATH_INFO, under whatever SCRIPT_NAME it is mounted.
 */
import type { Environ } from '../contract/types.js';

/** A path rule: prefix strings and/or RegExps, or a predicate. */
export type PathRule = ReadonlyArray<string | RegExp> | ((environ: Environ) => boolean);

/** True when `path` is `prefix` or lies below it. */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '' || prefix === '/') return true;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || (path.startsWith(p) && path.charCodeAt(p.length) === 47);
}

/** Compiles a rule into a predicate; `fallback` is the answer when the rule is absent. */
export function matcher(rule: PathRule | undefined, fallback: boolean): (environ: Environ) => boolean {
  if (rule === undefined) return () => fallback;
  if (typeof rule === 'function') return rule;
  const list = [...rule];
  return (environ) => {
    const path = environ.PATH_INFO || '/';
    return list.some((r) => (typeof r === 'string' ? underPrefix(path, r) : r.test(path)));
  };
}
