/**
 * `Response`: build a response from text, JSON or bytes and send it as an
 * app would. Header values given as text are sent as their UTF-8 bytes
 * (bytes-as-string underneath, PEP 3333); the status is given by number.
 */
import { STATUS_CODES } from 'node:http';
import { stringifySetCookie, type SerializeOptions } from 'cookie';
import { GatewayError } from '../contract/errors.js';
import { wsgiString } from '../contract/latin1.js';
import type { App, Environ, Header, StartResponse } from '../contract/types.js';

/** How a Response starts out. */
export interface ResponseInit {
  /** The status code (default 200). */
  status?: number;
  /** Headers, as an object or as pairs (text; sent as UTF-8). */
  headers?: Record<string, string> | ReadonlyArray<readonly [string, string]>;
}

/** Options of a Set-Cookie (the `cookie` package's). */
export type CookieOptions = SerializeOptions;

const NO_BODY = /^(?:1\d\d|204|304)$/;

/** A response under construction; `toApp()` or `send()` sends it. */
export class Response {
  #status: number;
  readonly #headers: Header[] = [];
  #body: Uint8Array;

  constructor(body: string | Uint8Array | null = null, init: ResponseInit = {}) {
    this.#status = checkCode(init.status ?? 200);
    this.#body = typeof body === 'string' ? Buffer.from(body, 'utf8') : body ?? new Uint8Array(0);
    const h = init.headers;
    if (h) for (const [k, v] of Array.isArray(h) ? h : Object.entries(h)) this.append(k, v);
  }

  /** `text/plain; charset=utf-8`. */
  static text(text: string, init: ResponseInit = {}): Response {
    return new Response(text, init).#type('text/plain; charset=utf-8');
  }
  /** `text/html; charset=utf-8`. */
  static html(html: string, init: ResponseInit = {}): Response {
    return new Response(html, init).#type('text/html; charset=utf-8');
  }
  /** `application/json`, the value serialised. */
  static json(value: unknown, init: ResponseInit = {}): Response {
    const text = JSON.stringify(value);
    if (text === undefined) throw new GatewayError('ERR_BAD_OPTION', 'Response.json(): the value cannot be serialised as JSON');
    return new Response(text, init).#type('application/json');
  }
  /** Raw bytes (default type application/octet-stream). */
  static bytes(bytes: Uint8Array, init: ResponseInit = {}): Response {
    return new Response(bytes, init).#type('application/octet-stream');
  }
  /** A redirect (default 302) to `location` (text; non-ASCII is percent-encoded). */
  static redirect(location: string, status = 302): Response {
    return new Response(null, { status }).set('Location', encodeURI(decodeSafe(location)));
  }
  /** No body (default 204). */
  static empty(status = 204): Response {
    return new Response(null, { status });
  }

  #type(type: string): this {
    if (this.get('Content-Type') === undefined) this.set('Content-Type', type);
    return this;
  }

  /** The status code. */
  get status(): number { return this.#status; }
  set status(code: number) { this.#status = checkCode(code); }
  /** The status line, `200 OK`. */
  get statusLine(): string { return `${this.#status} ${STATUS_CODES[this.#status] ?? 'Unknown'}`; }
  /** The headers as sent (bytes-as-string). */
  get headers(): readonly Header[] { return this.#headers; }
  /** The body bytes. */
  get body(): Uint8Array { return this.#body; }
  set body(b: string | Uint8Array) { this.#body = typeof b === 'string' ? Buffer.from(b, 'utf8') : b; }

  /** The first header named `name` (any case), as text. */
  get(name: string): string | undefined {
    const l = name.toLowerCase();
    const h = this.#headers.find((x) => x[0].toLowerCase() === l);
    return h && Buffer.from(h[1], 'latin1').toString('utf8');
  }
  /** Replaces every header named `name`. */
  set(name: string, value: string): this {
    const l = name.toLowerCase();
    for (let i = this.#headers.length - 1; i >= 0; i--) if (this.#headers[i]![0].toLowerCase() === l) this.#headers.splice(i, 1);
    return this.append(name, value);
  }
  /** Adds a header (Set-Cookie and other repeatable ones). */
  append(name: string, value: string): this {
    this.#headers.push([name, wsgiString(String(value))]);
    return this;
  }
  /** Adds a Set-Cookie (serialised by the `cookie` package; HttpOnly and SameSite=Lax unless told otherwise). */
  setCookie(name: string, value: string, options: CookieOptions = {}): this {
    return this.append('Set-Cookie', stringifySetCookie(name, value, { httpOnly: true, sameSite: 'lax', path: '/', ...options }));
  }
  /** Tells the client to drop a cookie. */
  deleteCookie(name: string, options: CookieOptions = {}): this {
    return this.setCookie(name, '', { ...options, maxAge: 0, expires: new Date(0) });
  }

  /** Sends this response through `startResponse`; the return value is the body to return. */
  send(startResponse: StartResponse): Uint8Array[] {
    const headers = this.#headers.slice();
    const code = String(this.#status);
    if (NO_BODY.test(code)) {
      startResponse(this.statusLine, headers.filter((h) => !/^content-(?:type|length)$/i.test(h[0])));
      return [];
    }
    if (this.get('Content-Type') === undefined) headers.push(['Content-Type', 'application/octet-stream']);
    startResponse(this.statusLine, headers);
    return [this.#body];
  }

  /** This response as an app: answers every request with it. */
  toApp(): App {
    return (_environ: Environ, startResponse: StartResponse) => this.send(startResponse);
  }
}

function checkCode(code: number): number {
  if (!Number.isInteger(code) || code < 100 || code > 599) throw new GatewayError('ERR_BAD_STATUS', `status ${String(code)} is not an HTTP status code (100–599)`);
  return code;
}

function decodeSafe(s: string): string {
  try {
    return decodeURI(s);
  } catch {
    return s;
  }
}
