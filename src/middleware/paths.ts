/**
 * Which requests a middleware applies to: URL-path prefixes matched at a
 * segment boundary (`/admin` matches `/admin` and `/admin/x`, never
 * `/administrator`), regular expressions, or a function of the environ.
 * Paths are the app's own: PATH_INFO, under whatever SCRIPT_NAME it is mounted.
 */
import { GatewayError } from '../contract/errors.js';
import type { Environ } from '../contract/types.js';

/** A path rule: prefix strings and/or RegExps, or a predicate. */
export type PathRule = ReadonlyArray<string | RegExp> | ((environ: Environ) => boolean);

/** True when `path` is `prefix` or lies below it. */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '' || prefix === '/') return true;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || (path.startsWith(p) && path.charCodeAt(p.length) === 47);
}

/**
 * The path as a router that tidies paths would see it: empty and `.`
 * segments dropped, `..` applied. Rules match this form, so that `//admin`,
 * `/./admin` or `/x/../admin` cannot slip past a rule for `/admin`.
 */
export function normalizePath(path: string): string {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}${out.length && path.endsWith('/') ? '/' : ''}`;
}

/** Throws unless `prefix` is a URL path (starts with `/`): a rule that can never match is a silent hole. */
export function checkPrefix(prefix: unknown, what: string): string {
  if (typeof prefix !== 'string' || !prefix.startsWith('/')) {
    throw new GatewayError('ERR_BAD_OPTION', `${what}: ${JSON.stringify(prefix)} is not a URL path; it must start with '/'`);
  }
  return prefix;
}

/**
 * Compiles a rule into a predicate; `fallback` is the answer when the rule is
 * absent. The path is tested as it came and tidied (normalizePath), since an
 * app may route by either: with `strict` ('all') both must match, otherwise
 * ('any') one is enough. A rule that grants access (an exclusion) is strict;
 * one that restricts is not.
 */
export function matcher(rule: PathRule | undefined, fallback: boolean, what = 'path rule', strict: 'any' | 'all' = 'any'): (environ: Environ) => boolean {
  if (rule === undefined) return () => fallback;
  if (typeof rule === 'function') return rule;
  const list = [...rule];
  for (const r of list) if (!(r instanceof RegExp)) checkPrefix(r, what);
  const test = (path: string): boolean => list.some((r) => (typeof r === 'string' ? underPrefix(path, r) : r.test(path)));
  return (environ) => {
    const raw = environ.PATH_INFO || '/';
    const tidy = normalizePath(raw);
    if (tidy === raw) return test(raw);
    return strict === 'all' ? test(raw) && test(tidy) : test(raw) || test(tidy);
  };
}
