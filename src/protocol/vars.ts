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
  // Own properties only: a name such as `constructor` must not see Object.prototype's.
  const prev = Object.hasOwn(vars, name) ? vars[name] : undefined;
  if (prev !== undefined && name.charCodeAt(0) === 72 && name.startsWith('HTTP_')) {
    vars[name] = `${prev}${name === 'HTTP_COOKIE' ? '; ' : ', '}${value}`;
  } else if (name !== '__proto__') {
    vars[name] = value;
  }
}
