/**
 * httpoxy (H2): under CGI every `HTTP_*` variable comes from the client, so a
 * request's `Proxy:` header arrives as HTTP_PROXY, the very name HTTP
 * clients read their proxy from. It leaves process.env before the app module
 * is loaded: a client configured at import time must not see it either. The
 * request still has its header: the environ gets the value taken here.
 */

let taken: string | undefined;

/** Removes HTTP_PROXY from process.env, keeping the value for the environ. Idempotent. */
export function dropProxyHeader(): void {
  const v = process.env.HTTP_PROXY;
  if (v === undefined) return;
  taken = v;
  delete process.env.HTTP_PROXY;
}

/** The HTTP_PROXY dropProxyHeader() took out of process.env (text, as process.env held it), if any. */
export function droppedProxyHeader(): string | undefined {
  return taken;
}
