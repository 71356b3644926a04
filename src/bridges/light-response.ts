/**
 * A lighter `Response` for fetch apps (B6), installed as the global one.
 *
 * A framework answers a request with `new Response('Hello', init)`; Node's
 * Response wraps such a body in a ReadableStream at once, and that stream
 * (made, then read back by the bridge) is most of what a small fetch
 * response costs, more than routing it does. This
 * Response keeps a string, bytes or no body as it was given, with its status
 * and Headers, and the bridge sends it as it is. Anything else — a stream
 * body, a Blob or FormData, a subclass, an init Node would refuse — is
 * Node's own Response, made at once, so its errors are Node's.
 *
 * It is the global Response only while installed (the CLI does for a fetch
 * app unless `TSGI_FETCH_RESPONSE=native`; `fromFetch(h, { lightResponse:
 * true })` programmatically). Every member behaves as Node's: `status`,
 * `statusText`, `ok`, `headers`, `type`, `url`, `redirected` and `bodyUsed`
 * are answered from what was given; `body`, `clone()`, `text()`, `json()`,
 * `arrayBuffer()`, `blob()`, `formData()` and `bytes()` first make the real
 * Response (once) and are its. `instanceof Response` holds for both kinds,
 * and the statics (`json`, `error`, `redirect`) are Node's.
 */
import { Buffer } from 'node:buffer';
import { ASK_REAL, delegateMembers } from './delegate.js';

const Native: typeof Response = globalThis.Response;

/** What a light response holds until it is made real. */
interface Held {
  body: string | Uint8Array | null;
  status: number;
  statusText: string;
  headers: Headers;
  /** The bridge has sent the body: as after a read of Node's, it cannot be read again. */
  used: boolean;
  real: Response | undefined;
}

/** A light response's parts, for the bridge to send without a stream. */
export interface LightParts {
  status: number;
  statusText: string;
  headers: Headers;
  body: Uint8Array | null;
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The init fields Node reads, when they are what this class can hold; undefined otherwise. */
function plainInit(init: unknown): { status: number; statusText: string; headers: unknown } | undefined {
  if (init === undefined || init === null) return { status: 200, statusText: '', headers: undefined };
  if (typeof init !== 'object') return undefined;
  const { status = 200, statusText = '', headers } = init as ResponseInit;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) return undefined;
  if (typeof statusText !== 'string' || !REASON.test(statusText)) return undefined;
  return { status, statusText, headers };
}

/** A copy of the bytes, as Node's Response takes one. */
function ownBytes(body: unknown): Uint8Array | undefined {
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(new Uint8Array(body));
  return undefined;
}

/** Reads a light response's state (set by the class's static block: the field is private to it). */
let heldOf: (value: object) => Held | undefined;

/** The global Response while installed; see the file's comment. */
export class LightResponse {
  #held: Held | undefined;

  constructor(body?: unknown, init?: unknown) {
    const fields = new.target === LightResponse ? plainInit(init) : undefined;
    const held: string | Uint8Array | null | undefined =
      body === undefined || body === null ? null : typeof body === 'string' ? body : ownBytes(body);
    let headers: Headers | undefined;
    if (fields !== undefined && held !== undefined && !(held !== null && NULL_BODY_STATUS.has(fields.status))) {
      try {
        headers = new Headers(fields.headers as ConstructorParameters<typeof Headers>[0]);
      } catch {
        headers = undefined; // Node's own Response throws its own error below
      }
    }
    if (fields === undefined || held === undefined || headers === undefined) {
      // Node's Response, with the caller's prototype (a subclass keeps its own members).
      return Reflect.construct(Native, [body, init], new.target) as LightResponse;
    }
    if (typeof held === 'string' && !headers.has('content-type')) headers.set('content-type', 'text/plain;charset=UTF-8');
    this.#held = { body: held, status: fields.status, statusText: fields.statusText, headers, used: false, real: undefined };
  }

  static {
    heldOf = (value) => (#held in value ? (value as LightResponse).#held : undefined);
  }

  /** True for Node's Responses and light ones alike (on subclasses: the usual prototype check). */
  static [Symbol.hasInstance](value: unknown): boolean {
    if (this !== LightResponse) return Function.prototype[Symbol.hasInstance].call(this, value);
    return value instanceof Native;
  }

  static json(data: unknown, init?: ResponseInit): Response {
    return Native.json(data, init);
  }

  static error(): Response {
    return Native.error();
  }

  static redirect(...args: Parameters<typeof Response.redirect>): Response {
    return Native.redirect(...args);
  }
}

/**
 * The parts of a light response that nobody made real and nobody sent yet,
 * taken once (the response is then used, as after a read of its body);
 * undefined for anything else.
 */
export function takeLight(value: unknown): LightParts | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const held = heldOf(value);
  if (held === undefined || held.real !== undefined || held.used) return undefined;
  held.used = true;
  const body = held.body;
  held.body = null;
  return { status: held.status, statusText: held.statusText, headers: held.headers, body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body };
}

/** Node's Response for `held`, made once; later reads of every member are its. */
function real(held: Held): Response {
  if (held.real === undefined) {
    const r = new Native(held.used ? '' : held.body, { status: held.status, statusText: held.statusText, headers: held.headers });
    // Sent by the bridge: the real one is read too, so that it says bodyUsed and refuses a second read.
    if (held.used) r.arrayBuffer().catch(() => {});
    held.real = r;
    held.body = null;
  }
  return held.real;
}

/** Members answered from what was given while the response is light. */
const FROM_HELD = new Map<PropertyKey, (held: Held) => unknown>([
  ['status', (h) => h.status],
  ['statusText', (h) => h.statusText],
  ['ok', (h) => h.status >= 200 && h.status <= 299],
  ['headers', (h) => h.headers],
  ['type', () => 'default'],
  ['url', () => ''],
  ['redirected', () => false],
  ['bodyUsed', (h) => h.used],
]);

// Every member of Node's Response.prototype, answered for both kinds: from the held
// state while light, else from the real Response (a made light one, or a Node
// Response with a subclass's prototype).
Object.setPrototypeOf(LightResponse.prototype, Native.prototype);
delegateMembers(LightResponse.prototype, Native.prototype, (self) => {
  const held = heldOf(self);
  return held === undefined ? self : real(held);
}, new Map([...FROM_HELD].map(([key, light]) => [key, (self: object) => {
  const held = heldOf(self);
  return held !== undefined && held.real === undefined ? light(held) : ASK_REAL;
}])));

/** Makes LightResponse the global Response (once; a Response someone else installed is left alone). */
export function installLightResponse(): boolean {
  if (globalThis.Response === (LightResponse as unknown as typeof Response)) return true;
  if (globalThis.Response !== Native) return false;
  globalThis.Response = LightResponse as unknown as typeof Response;
  return true;
}

/** Puts Node's Response back. */
export function uninstallLightResponse(): void {
  if (globalThis.Response === (LightResponse as unknown as typeof Response)) globalThis.Response = Native;
}
