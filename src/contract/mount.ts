/**
 * The mount prefix (`--mount`, F13, U8): the URL path an app is served
 * under, which becomes its SCRIPT_NAME while the rest of the path is its
 * PATH_INFO. Pure string work on the CGI variables, so that both the
 * gateway's intake (every adapter) and the HTTP environ codec (a caller that
 * passes `mount`) apply the same rule without one layer importing the other.
 */

/** `--mount` as given → the prefix form: leading `/`, no trailing `/`; `/` alone is ''. */
export function normalizeMount(mount: string | undefined): string {
  if (mount === undefined) return '';
  let m = mount.trim().replace(/\/+$/, '');
  if (m !== '' && m.charCodeAt(0) !== 47) m = `/${m}`;
  return m;
}

/** True when `path` is `mount` or below it (segment boundary). */
export function underMount(path: string, mount: string): boolean {
  return path.startsWith(mount) && (path.length === mount.length || path.charCodeAt(mount.length) === 47);
}

/**
 * Splits SCRIPT_NAME + PATH_INFO at a normalised `mount` (in place): a path
 * at or below it becomes SCRIPT_NAME = mount and PATH_INFO = the rest; any
 * other path, or an empty mount, is left as it is. PATH_INFO must be set.
 */
export function applyMount(vars: Record<string, string>, mount: string): void {
  if (mount === '') return;
  const whole = (vars.SCRIPT_NAME ?? '') + vars.PATH_INFO!;
  if (underMount(whole, mount)) {
    vars.SCRIPT_NAME = mount;
    vars.PATH_INFO = whole.slice(mount.length);
  }
}
