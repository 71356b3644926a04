/**
 * Splitting the request path between SCRIPT_NAME and PATH_INFO when the web
 * server did not (F13, U8). Pure.
 *
 * nginx's stock `fastcgi_params` sends SCRIPT_NAME = the whole path and no
 * PATH_INFO; its stock `uwsgi_params` sends PATH_INFO = the whole path and no
 * SCRIPT_NAME. Either way the app should see the path below its mount point.
 */

/**
 * Normalises `vars` in place. When PATH_INFO is absent, the whole path is
 * SCRIPT_NAME (nginx FastCGI). With a `mount` prefix (no trailing `/`), a
 * path at or below it is split into SCRIPT_NAME = mount and PATH_INFO = the
 * rest; without one, an absent PATH_INFO makes the whole path PATH_INFO.
 */
export function splitPath(vars: Record<string, string>, mount: string): void {
  const pi = vars.PATH_INFO;
  if (pi === undefined) {
    // nginx fastcgi_params: SCRIPT_NAME holds the whole path.
    const whole = vars.SCRIPT_NAME ?? '';
    if (mount !== '' && within(whole, mount)) {
      vars.SCRIPT_NAME = mount;
      vars.PATH_INFO = whole.slice(mount.length);
    } else {
      vars.SCRIPT_NAME = '';
      vars.PATH_INFO = whole;
    }
    return;
  }
  if (mount === '') return;
  const whole = (vars.SCRIPT_NAME ?? '') + pi;
  if (within(whole, mount)) {
    vars.SCRIPT_NAME = mount;
    vars.PATH_INFO = whole.slice(mount.length);
  }
}

/** True when `path` is `mount` or below it (segment boundary). */
function within(path: string, mount: string): boolean {
  return path.startsWith(mount) && (path.length === mount.length || path.charCodeAt(mount.length) === 47);
}

/** `--mount` as given → the prefix form used above: leading `/`, no trailing `/`; `/` alone is ''. */
export function normalizeMount(mount: string | undefined): string {
  if (mount === undefined) return '';
  let m = mount.trim().replace(/\/+$/, '');
  if (m !== '' && m.charCodeAt(0) !== 47) m = `/${m}`;
  return m;
}
