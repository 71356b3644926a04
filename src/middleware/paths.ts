/**
 * Which requests a middleware applies to: URL-path prefixes matched at a
 * segment boundary (`/admin` matches `/admin` and `/admin/x`, never
 * `/administrator`), regular expressions, or a function of the environ.
 * Paths are the app's own: PATH_INFO, under whatever SCRIPT_NAME it is mounted.
 *
 * H1: a rule must hold for every spelling of a path that the app below may
 * route to the same handler. Routers differ: Express matches the raw request
 * target without decoding it but ignores letter case; Hono decodes it once
 * and minds case; an environ app reads PATH_INFO, which the gateway decoded
 * once, and may decode it again; nginx hands over a PATH_INFO it has already
 * tidied while REQUEST_URI stays as the client sent it. So a request is
 * tested in all of its spellings ({@link pathForms}): a rule that restricts
 * (auth's `protect`) applies when any spelling matches it, in any letter case;
 * a rule that grants (auth's `exclude`) applies only when every spelling
 * matches it exactly. A path too odd to spell out (encoded more than
 * {@link DECODE_ROUNDS} times over) counts as matched by the first kind and
 * not by the second: when in doubt, the door stays shut.
 */
import { GatewayError } from '../contract/errors.js';
import { wsgiString } from '../contract/latin1.js';
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
 * How many times over a path is percent-decoded when its spellings are made
 * (a router decodes once; an app may decode PATH_INFO, already decoded once,
 * again). A path still encoded after that many rounds is not spelled out:
 * H1 treats it as able to reach anything.
 */
export const DECODE_ROUNDS = 4;

const ENCODED = /%[0-9A-Fa-f]{2}/;
const ENCODED_ALL = /%([0-9A-Fa-f]{2})/g;
// Anything in a path that some router or app reads differently from another.
// eslint-disable-next-line no-control-regex
const ODD = /[%\\;\0-\x20\xa0\ufeff]|\/\/|\/\.|\.(?:\/|$)/;
// RFC 9112 §3.2.2: an absolute-form target (`GET http://host/path`), which node:http passes on as it came.
// Node's url.parse (Express's parseurl hands it any target not starting with '/') also takes `x:/path`, and
// ends the host at a backslash as at a slash.
const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:(?:\/\/[^/\\]*)?/;

/** White space as Node's url.parse trims it off both ends of a target: C0 controls, space, U+00A0, U+FEFF. */
const isBlank = (c: number): boolean => c <= 32 || c === 0xa0 || c === 0xfeff;

/**
 * `s` without the white space url.parse trims off its ends. Express routes a
 * target with a raw 0xA0 (or a tab) in it through url.parse, so `/admin\xa0`
 * runs its `/admin` handler (H1; nginx passes such a byte on). A loop, not a
 * regular expression anchored at the end: that would be quadratic on a long run.
 */
function trimBlank(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isBlank(s.charCodeAt(start))) start++;
  while (end > start && isBlank(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** One round of percent-decoding, bytes-as-string (each `%hh` becomes the character U+00hh). */
function decodeOnce(s: string): string {
  return s.replace(ENCODED_ALL, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * Backslashes as slashes, and each segment cut at a `;` (path parameters) or
 * NUL and stripped of trailing dots and blanks: what servers that read paths
 * as file names (or as `name;param`) would make of it.
 */
function loosen(s: string): string {
  return s.replace(/\\/g, '/').split('/').map((seg) => {
    if (seg === '.' || seg === '..') return seg;
    const cut = seg.search(/[;\0]/);
    let end = cut >= 0 ? cut : seg.length;
    // A loop, not /[. \t]+$/: that regular expression is quadratic on a long run of dots inside a segment.
    for (let c = seg.charCodeAt(end - 1); end > 0 && (c === 46 || c === 32 || c === 9); c = seg.charCodeAt(--end - 1));
    return seg.slice(0, end);
  }).join('/');
}

/**
 * The raw request target's path relative to the app, as the bridges hand it
 * to Express or Hono (REQUEST_URI with SCRIPT_NAME taken off its front), or
 * undefined when the gateway gave no REQUEST_URI; `trim`: as url.parse reads
 * it (Express), {@link trimBlank}.
 */
function rawPath(environ: Environ, trim = false): string | undefined {
  const uri = environ.REQUEST_URI;
  if (typeof uri !== 'string' || uri === '') return undefined;
  let p = trim ? trimBlank(uri) : uri;
  const q = p.search(/[?#]/);
  if (q >= 0) p = p.slice(0, q);
  const abs = ABSOLUTE.exec(p);
  if (abs) p = p.slice(abs[0].length);
  const script = environ.SCRIPT_NAME;
  if (typeof script === 'string' && script !== '' && p.startsWith(script) &&
    (p.length === script.length || p.charCodeAt(script.length) === 47)) p = p.slice(script.length);
  return p === '' ? '/' : p;
}

/**
 * Every spelling of the request's path that an app below may route by (H1):
 * PATH_INFO and the raw target, each as it is and trimmed as url.parse trims
 * it ({@link trimBlank}), tidied (normalizePath), and
 * percent-decoded round after round, each round also tidied and loosened
 * (`;params`, trailing dots, backslashes). Undefined when the path is still
 * encoded after {@link DECODE_ROUNDS} rounds: it may spell anything.
 */
export function pathForms(environ: Environ): string[] | undefined {
  const info = environ.PATH_INFO || '/';
  const raw = rawPath(environ);
  // The common case: one plain spelling, nothing to tidy, trim or decode.
  if ((raw === undefined || raw === info) && !ODD.test(info)) return [info];
  const forms = new Set<string>();
  for (const source of new Set([info, trimBlank(info), raw ?? info, rawPath(environ, true) ?? info])) {
    let s = source;
    for (let round = 0; ; round++) {
      forms.add(s);
      forms.add(normalizePath(s));
      forms.add(normalizePath(loosen(s)));
      if (!ENCODED.test(s)) break;
      if (round === DECODE_ROUNDS) return undefined;
      s = decodeOnce(s);
    }
  }
  return [...forms];
}

/** A RegExp without the flags that make test() stateful (g, y), with or without `i`. */
function plainRegExp(r: RegExp, ignoreCase: boolean): RegExp {
  const flags = r.flags.replace(/[gyi]/g, '') + (ignoreCase || r.flags.includes('i') ? 'i' : '');
  return new RegExp(r.source, flags);
}

/**
 * Compiles a rule into a predicate; `fallback` is the answer when the rule is
 * absent. `mode` says what the rule does (H1, see the top of this file):
 * 'any' (restricts: any spelling, any letter case) or 'all' (grants: every
 * spelling, exactly). A predicate function gets the environ and decides alone.
 */
export function matcher(rule: PathRule | undefined, fallback: boolean, what = 'path rule', mode: 'any' | 'all' = 'any'): (environ: Environ) => boolean {
  if (rule === undefined) return () => fallback;
  if (typeof rule === 'function') return rule;
  if (!Array.isArray(rule)) throw new GatewayError('ERR_BAD_OPTION', `${what}: expected a list of path prefixes and RegExps, or a function`);
  const any = mode === 'any';
  const prefixes: string[] = [];
  const patterns: RegExp[] = [];
  for (const r of rule as ReadonlyArray<unknown>) {
    if (r instanceof RegExp) {
      patterns.push(plainRegExp(r, any));
      continue;
    }
    const p = checkPrefix(r, what);
    // A prefix is text; PATH_INFO holds bytes (UTF-8 on the wire): both spellings of a non-ASCII prefix.
    for (const spelling of new Set([p, wsgiString(p)])) prefixes.push(any ? spelling.toLowerCase() : spelling);
  }
  const test = (form: string): boolean => {
    const f = any ? form.toLowerCase() : form;
    for (const p of prefixes) if (underPrefix(f, p)) return true;
    for (const r of patterns) if (r.test(form)) return true;
    return false;
  };
  return (environ) => {
    const forms = pathForms(environ);
    if (forms === undefined) return any;
    return any ? forms.some(test) : forms.every(test);
  };
}
