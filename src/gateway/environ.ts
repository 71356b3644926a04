/**
 * Turns the CGI variables an adapter decoded into a PEP 3333 environ. Shared by
 * every adapter so that C2, C3, C5, C7 and C8 hold in exactly one place.
 */
import { HTTPS_ON, OPTIONAL_VARS } from '../contract/cgi-vars.js';
import type { Environ, WsgiErrors, WsgiInput } from '../contract/types.js';
import type { RequestAbort } from './abort.js';
import { fileWrapper } from './file-wrapper.js';
import type { OffloadSpec } from './offload.js';

/** What the adapter knows about the process and the request besides the variables. */
export interface EnvironExtras {
  input: WsgiInput;
  errors: WsgiErrors;
  /** The request's abort state; `tsgi.abort` is its signal. */
  abort: RequestAbort;
  /** C6: true when several processes serve the same app. */
  multiprocess: boolean;
  /** C6: true for CGI only. */
  runOnce: boolean;
  /**
   * The variables were stored with addCgiVar: there is no empty optional
   * variable (C3) and no HTTP_CONTENT_TYPE / HTTP_CONTENT_LENGTH (C7) to remove.
   */
  clean?: boolean;
  /** X1: the server's `--offload`, as `tsgi.offload` (unset without it). */
  offload?: OffloadSpec;
  /** X4: sends a 103 where the front passes 1xx; default: the no-op. */
  earlyHints?: EarlyHints;
}

/** `environ['tsgi.early_hints']` (X4): informational headers sent before the response, where they can be. */
export type EarlyHints = (headers: [string, string][]) => void;

/**
 * X4: behind a front that cannot pass a 1xx on (FastCGI, uwsgi, CGI: nginx
 * and Apache answer their backends' 1xx with an error or drop it) early
 * hints are a no-op, so that an app can call it everywhere.
 */
export const noEarlyHints: EarlyHints = () => {};

/**
 * A new object for a request's variables, for an adapter that decodes them
 * into it: the keys every environ ends up with (C2's variables and the wsgi.*
 * keys) are declared up front, unset (undefined) until completeEnviron gives
 * each its value. V8 then keeps them inside the object itself, instead of in
 * a property array that is copied into a larger one every few keys as the
 * variables arrive: about half the garbage the object leaves behind.
 */
export function environVars(): Record<string, string> {
  return {
    REQUEST_METHOD: undefined, SCRIPT_NAME: undefined, PATH_INFO: undefined, QUERY_STRING: undefined,
    SERVER_NAME: undefined, SERVER_PORT: undefined, SERVER_PROTOCOL: undefined,
    'wsgi.version': undefined, 'wsgi.url_scheme': undefined, 'wsgi.input': undefined, 'wsgi.errors': undefined,
    'wsgi.multithread': undefined, 'wsgi.multiprocess': undefined, 'wsgi.run_once': undefined, 'wsgi.file_wrapper': undefined,
  } as unknown as Record<string, string>;
}

/**
 * Completes `vars` in place into an Environ and returns it. `vars` must be a
 * fresh object (C1): the app may change it.
 */
export function completeEnviron(vars: Record<PropertyKey, unknown>, x: EnvironExtras): Environ;
/** The same, with the input given apart from the other extras (no object built per request for it). */
export function completeEnviron(vars: Record<PropertyKey, unknown>, x: Omit<EnvironExtras, 'input'>, input: WsgiInput): Environ;
export function completeEnviron(vars: Record<PropertyKey, unknown>, x: Omit<EnvironExtras, 'input'> & { input?: WsgiInput }, input = x.input!): Environ {
  if (x.clean !== true) {
    // C3: nginx sends CONTENT_TYPE and CONTENT_LENGTH as '' on every GET; Apache may send an empty REMOTE_USER.
    for (let i = 0; i < OPTIONAL_VARS.length; i++) {
      const k = OPTIONAL_VARS[i]!;
      if (vars[k] === '') delete vars[k];
    }
    // C7: these two only ever reach the app without the HTTP_ prefix.
    if (vars.HTTP_CONTENT_TYPE !== undefined) delete vars.HTTP_CONTENT_TYPE;
    if (vars.HTTP_CONTENT_LENGTH !== undefined) delete vars.HTTP_CONTENT_LENGTH;
  }

  // C2: always present.
  if (typeof vars.REQUEST_METHOD !== 'string' || vars.REQUEST_METHOD === '') vars.REQUEST_METHOD = 'GET';
  if (typeof vars.SERVER_PROTOCOL !== 'string' || vars.SERVER_PROTOCOL === '') vars.SERVER_PROTOCOL = 'HTTP/1.0';
  if (typeof vars.QUERY_STRING !== 'string') vars.QUERY_STRING = '';
  const scheme = vars.REQUEST_SCHEME;
  const https = (typeof vars.HTTPS === 'string' && HTTPS_ON.test(vars.HTTPS)) ||
    (typeof scheme === 'string' && scheme.length === 5 && (scheme === 'https' || scheme.toLowerCase() === 'https'));
  if (typeof vars.SERVER_NAME !== 'string' || vars.SERVER_NAME === '') {
    vars.SERVER_NAME = (typeof vars.HTTP_HOST === 'string' ? hostName(vars.HTTP_HOST) : '') || 'localhost';
  }
  if (typeof vars.SERVER_PORT !== 'string' || vars.SERVER_PORT === '') vars.SERVER_PORT = https ? '443' : '80';

  // C8: SCRIPT_NAME is '' or starts with '/', and never ends with '/'; PATH_INFO is '' or starts with '/'.
  let sn = typeof vars.SCRIPT_NAME === 'string' ? vars.SCRIPT_NAME : '';
  let pi = typeof vars.PATH_INFO === 'string' ? vars.PATH_INFO : '';
  if (sn !== '' && sn.charCodeAt(sn.length - 1) === 47) {
    let end = sn.length;
    while (end > 0 && sn.charCodeAt(end - 1) === 47) end--;
    sn = sn.slice(0, end);
    if (pi.charCodeAt(0) !== 47) pi = `/${pi}`;
  }
  if (sn !== '' && sn.charCodeAt(0) !== 47) sn = `/${sn}`;
  if (pi !== '' && pi.charCodeAt(0) !== 47) pi = `/${pi}`;
  vars.SCRIPT_NAME = sn;
  vars.PATH_INFO = pi;

  vars['wsgi.version'] = [1, 0];
  vars['wsgi.url_scheme'] = https ? 'https' : 'http';
  vars['wsgi.input'] = input;
  vars['wsgi.errors'] = x.errors;
  vars['wsgi.multithread'] = false;
  vars['wsgi.multiprocess'] = x.multiprocess;
  vars['wsgi.run_once'] = x.runOnce;
  vars['wsgi.file_wrapper'] = fileWrapper;
  vars['tsgi.abort'] = x.abort.signal;
  vars['tsgi.early_hints'] = x.earlyHints ?? noEarlyHints;
  // X1: the server's setting, never a request variable of that name (a web server may pass any name).
  if (x.offload !== undefined) vars['tsgi.offload'] = x.offload;
  else if (vars['tsgi.offload'] !== undefined) delete vars['tsgi.offload'];
  return vars as unknown as Environ;
}

/** The host of a Host header without its `:port` (digits, maybe none), as `/:\d*$/` would strip it. */
function hostName(host: string): string {
  let i = host.length;
  while (i > 0) {
    const c = host.charCodeAt(i - 1);
    if (c < 48 || c > 57) break;
    i--;
  }
  return i > 0 && host.charCodeAt(i - 1) === 58 ? host.slice(0, i - 1) : host;
}
