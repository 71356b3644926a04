/**
 * Adding one decoded variable to a request's variables when the web server
 * may repeat a name (FastCGI params, uwsgi vars). Pure.
 */

/**
 * Stores `name = value` in `vars`. A repeated `HTTP_*` name is joined with
 * `, ` (RFC 9110 §5.3), `HTTP_COOKIE` with `; ` (RFC 6265 §5.4), as newer
 * nginx and Apache join them themselves (U5); any other repeated name: the
 * last one wins.
 */
export function addVar(vars: Record<string, string>, name: string, value: string): void {
  if (name.charCodeAt(0) === 72 && name.startsWith('HTTP_')) {
    // Object.prototype has no HTTP_* keys, so a plain lookup sees only this request's own.
    const prev = vars[name];
    vars[name] = prev === undefined ? value : `${prev}${name === 'HTTP_COOKIE' ? '; ' : ', '}${value}`;
  } else if (name !== '__proto__') {
    vars[name] = value;
  }
}
