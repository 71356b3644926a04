/**
 * Adding one decoded variable to a request's variables when the web server
 * may repeat a name (FastCGI params, uwsgi vars). Pure.
 */
import { OPTIONAL_VARS } from '../contract/cgi-vars.js';

/** How a decoder stores one decoded variable: addVar, or addCgiVar for a request's environ. */
export type VarAdder = (vars: Record<string, string>, name: string, value: string) => void;

/**
 * Stores `name = value` in `vars`. A repeated `HTTP_*` name is joined with
 * `, ` (RFC 9110 §5.3), `HTTP_COOKIE` with `; ` (RFC 6265 §5.4), as newer
 * nginx and Apache join them themselves (U5); any other repeated name: the
 * last one wins.
 */
export function addVar(vars: Record<string, string>, name: string, value: string): void {
  if (name.charCodeAt(0) === 72 && name.startsWith('HTTP_')) joinHeader(vars, name, value);
  else if (name !== '__proto__') vars[name] = value;
}

const OPTIONAL = new Set(OPTIONAL_VARS);

/**
 * addVar for the variables of a request that become its environ, with C3 and
 * C7 applied as each arrives rather than by deleting afterwards: an optional
 * CGI variable without a value is not stored (nginx sends CONTENT_TYPE,
 * CONTENT_LENGTH and REMOTE_USER empty on every GET), and neither is
 * HTTP_CONTENT_TYPE or HTTP_CONTENT_LENGTH. The result is the same object
 * addVar and completeEnviron's clean-up would make, built without a delete,
 * which would put the object in V8's slow dictionary mode.
 */
export function addCgiVar(vars: Record<string, string>, name: string, value: string): void {
  if (name.charCodeAt(0) === 72 && name.startsWith('HTTP_')) {
    // C7: these two reach the app only without the HTTP_ prefix.
    if ((name.length === 17 && name === 'HTTP_CONTENT_TYPE') || (name.length === 19 && name === 'HTTP_CONTENT_LENGTH')) return;
    joinHeader(vars, name, value);
  } else if (value === '' && OPTIONAL.has(name)) {
    // C3: absent, not ''. As the last of a repeated name it still wins: an earlier value goes.
    if (Object.hasOwn(vars, name)) delete vars[name];
  } else if (name !== '__proto__') {
    vars[name] = value;
  }
}

/** U5: a repeated HTTP_* name joined, as the web servers join repeated headers. */
function joinHeader(vars: Record<string, string>, name: string, value: string): void {
  // Object.prototype has no HTTP_* keys, so a plain lookup sees only this request's own.
  const prev = vars[name];
  vars[name] = prev === undefined ? value : `${prev}${name === 'HTTP_COOKIE' ? '; ' : ', '}${value}`;
}
