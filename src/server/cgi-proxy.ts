/**
 * httpoxy (H2): under CGI every `HTTP_*` variable comes from the client, so a
 * request's `Proxy:` header arrives as HTTP_PROXY, the very name HTTP
 * clients read their proxy from. It leaves process.env before the app module
 * is loaded: a client configured at import time must not see it either. The
 * request still has its header: the environ gets the value taken here.
 *
 * Node's own proxy support (`NODE_USE_ENV_PROXY=1` or `--use-env-proxy`)
 * reads HTTP_PROXY while Node starts, before any of tsgi runs: under it,
 * `tsgi cgi` starts itself again without the variable ({@link restartWithoutProxy}).
 */

/**
 * Carries the request's Proxy header to the command started again without
 * HTTP_PROXY. Not an `HTTP_` name: no request can set it.
 */
const CARRIER = 'TSGI_CGI_HTTP_PROXY';

let taken: string | undefined;

/** Removes HTTP_PROXY (and its carrier) from process.env, keeping the value for the environ. Idempotent. */
export function dropProxyHeader(): void {
  const v = process.env.HTTP_PROXY ?? process.env[CARRIER];
  if (v === undefined) return;
  taken = v;
  delete process.env.HTTP_PROXY;
  delete process.env[CARRIER];
}

/** The HTTP_PROXY dropProxyHeader() took out of process.env (text, as process.env held it), if any. */
export function droppedProxyHeader(): string | undefined {
  return taken;
}

/**
 * The variables of a CGI environment block as the request sent them: a
 * carried Proxy header (see {@link restartWithoutProxy}) is HTTP_PROXY again.
 */
export function restoreProxyHeader(vars: Record<string, string>): void {
  const carried = vars[CARRIER];
  if (carried === undefined) return;
  delete vars[CARRIER];
  vars.HTTP_PROXY ??= carried;
}

/** True when Node itself took HTTP_PROXY as its proxy when it started (H2). */
function nodeUsesEnvProxy(): boolean {
  const flag = (args: readonly string[]): boolean => args.includes('--use-env-proxy');
  return process.env.NODE_USE_ENV_PROXY === '1' || flag(process.execArgv) || flag((process.env.NODE_OPTIONS ?? '').split(/\s+/));
}

/**
 * H2 under Node's own proxy support: Node set up `fetch` and `http.request`
 * with the request's Proxy header as their proxy before tsgi ran, and
 * nothing done now undoes that on every Node version. So the same command
 * is started again without HTTP_PROXY (the value travels under a name no
 * request can set), and this process only passes on its exit status.
 * Returns that status, or undefined when no restart is needed (the usual
 * case: no Proxy header, or Node's proxy support off).
 */
export function restartWithoutProxy(): number | undefined {
  const proxy = process.env.HTTP_PROXY;
  if (proxy === undefined || !nodeUsesEnvProxy()) return undefined;
  const env: NodeJS.ProcessEnv = { ...process.env, [CARRIER]: proxy };
  delete env.HTTP_PROXY;
  const r = process.getBuiltinModule('node:child_process').spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { env, stdio: 'inherit' });
  return r.status ?? 1;
}
