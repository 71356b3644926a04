/**
 * `Request`: a convenience view of one environ. Text comes out as UTF-8
 * decoded strings; the environ underneath stays bytes-as-string (PEP 3333),
 * and nothing here changes it. The body is read once, with limits.
 */
import type { Busboy } from 'busboy';
import { parseCookie } from 'cookie';
import { fromWsgiString } from '../contract/latin1.js';
import type { Environ } from '../contract/types.js';
import { HttpError } from './http-error.js';

/** Body size limits of a Request. */
export interface RequestLimits {
  /** Largest body read by bytes(), text(), json(), form() (default 1 MiB). */
  maxBodyBytes?: number;
  /** multipart(): largest single file (default 10 MiB). */
  maxFileBytes?: number;
  /** multipart(): most files (default 10). */
  maxFiles?: number;
  /** multipart() and form(): most fields (default 1000). */
  maxFields?: number;
  /** multipart(): largest whole body (default 50 MiB). */
  maxMultipartBytes?: number;
}

/** A file from a multipart/form-data body, held in memory. */
export interface UploadedFile {
  field: string;
  /** The client's file name (UTF-8 text; never use it as a path as it is). */
  filename: string;
  mimeType: string;
  data: Buffer;
}

/** The parsed multipart/form-data body. */
export interface Multipart {
  fields: URLSearchParams;
  files: UploadedFile[];
}

const DEFAULTS: Required<RequestLimits> = {
  maxBodyBytes: 1 << 20, maxFileBytes: 10 << 20, maxFiles: 10, maxFields: 1000, maxMultipartBytes: 50 << 20,
};
const FORM = /^application\/x-www-form-urlencoded\b/i;
const MULTIPART = /^multipart\/form-data\b/i;
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;

/** A view of one request. */
export class Request {
  /** The environ this request reads (bytes-as-string underneath). */
  readonly environ: Environ;
  readonly #limits: Required<RequestLimits>;
  #query: URLSearchParams | undefined;
  #cookies: Record<string, string> | undefined;
  #body: Buffer | undefined;
  #consumed = false;

  constructor(environ: Environ, limits: RequestLimits = {}) {
    this.environ = environ;
    this.#limits = { ...DEFAULTS, ...limits };
  }

  /** `GET`, `POST` … */
  get method(): string { return this.environ.REQUEST_METHOD; }
  /** The path within the app (PATH_INFO), UTF-8 decoded; `/` when empty. */
  get path(): string { return fromWsgiString(this.environ.PATH_INFO || '/'); }
  /** Where the app is mounted (SCRIPT_NAME), UTF-8 decoded. */
  get scriptName(): string { return fromWsgiString(this.environ.SCRIPT_NAME); }
  /** The query string, parsed (percent-escapes decoded as UTF-8). */
  get query(): URLSearchParams {
    return (this.#query ??= new URLSearchParams(fromWsgiString(this.environ.QUERY_STRING)));
  }
  /** The request's scheme, host and full URL. */
  get url(): URL {
    const e = this.environ;
    const host = e.HTTP_HOST ?? `${e.SERVER_NAME}:${e.SERVER_PORT}`;
    const raw = e.REQUEST_URI ?? `${e.SCRIPT_NAME}${e.PATH_INFO}${e.QUERY_STRING ? `?${e.QUERY_STRING}` : ''}`;
    return new URL(fromWsgiString(raw).replace(/^\/+/, '/'), `${e['wsgi.url_scheme']}://${fromWsgiString(host)}`);
  }
  /** A request header by name (any case), UTF-8 decoded, or undefined. */
  header(name: string): string | undefined {
    const key = name.toUpperCase().replace(/-/g, '_');
    const v = key === 'CONTENT_TYPE' || key === 'CONTENT_LENGTH' ? this.environ[key] : this.environ[`HTTP_${key}`];
    return typeof v === 'string' ? fromWsgiString(v) : undefined;
  }
  /** All request headers, lower-case names. */
  get headers(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.environ)) {
      if (typeof v !== 'string') continue;
      if (k.startsWith('HTTP_')) out[k.slice(5).toLowerCase().replace(/_/g, '-')] = fromWsgiString(v);
      else if (k === 'CONTENT_TYPE' || k === 'CONTENT_LENGTH') out[k.toLowerCase().replace(/_/g, '-')] = v;
    }
    return out;
  }
  /** Cookies by name (parsed by the `cookie` package). */
  get cookies(): Record<string, string> {
    if (this.#cookies) return this.#cookies;
    const raw = this.environ.HTTP_COOKIE;
    const parsed = raw ? parseCookie(fromWsgiString(raw)) : {};
    const out: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [k, v] of Object.entries(parsed)) if (v !== undefined) out[k] = v;
    return (this.#cookies = out);
  }
  /** The Content-Type's media type, lower case, without parameters ('' when none). */
  get contentType(): string {
    return (this.environ.CONTENT_TYPE ?? '').split(';', 1)[0]!.trim().toLowerCase();
  }
  /** CONTENT_LENGTH as a number (0 when absent). */
  get contentLength(): number {
    const v = this.environ.CONTENT_LENGTH;
    return v ? Number(v) : 0;
  }

  /** The whole body, at most maxBodyBytes (413 past it). */
  async bytes(): Promise<Buffer> {
    if (this.#body) return this.#body;
    this.#body = this.#read(this.#limits.maxBodyBytes);
    return this.#body;
  }

  /** The body as UTF-8 text. */
  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }

  /** The body parsed as JSON (400 when it is not JSON, 415 when it is not sent as JSON). */
  async json<T = unknown>(): Promise<T> {
    if (!JSON_TYPE.test(this.environ.CONTENT_TYPE ?? '')) {
      throw new HttpError(415, 'ERR_BAD_REQUEST_BODY', `expected an application/json body, got ${JSON.stringify(this.environ.CONTENT_TYPE ?? 'none')}`);
    }
    const text = await this.text();
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new HttpError(400, 'ERR_BAD_REQUEST_BODY', `the body is not valid JSON: ${(err as Error).message}`);
    }
  }

  /** An application/x-www-form-urlencoded body (or the multipart fields). */
  async form(): Promise<URLSearchParams> {
    if (MULTIPART.test(this.environ.CONTENT_TYPE ?? '')) return (await this.multipart()).fields;
    if (!FORM.test(this.environ.CONTENT_TYPE ?? '')) {
      throw new HttpError(415, 'ERR_BAD_REQUEST_BODY', `expected a form body, got ${JSON.stringify(this.environ.CONTENT_TYPE ?? 'none')}`);
    }
    const params = new URLSearchParams(await this.text());
    let n = 0;
    for (const _ of params.keys()) if (++n > this.#limits.maxFields) throw new HttpError(413, 'ERR_LIMIT_BODY', `more than ${this.#limits.maxFields} form fields`);
    return params;
  }

  /** A multipart/form-data body, parsed by busboy, files held in memory within the limits. */
  async multipart(): Promise<Multipart> {
    const type = this.environ.CONTENT_TYPE ?? '';
    if (!MULTIPART.test(type)) throw new HttpError(415, 'ERR_BAD_REQUEST_BODY', `expected multipart/form-data, got ${JSON.stringify(type || 'none')}`);
    const l = this.#limits;
    const declared = this.contentLength;
    if (declared > l.maxMultipartBytes) throw tooLarge(l.maxMultipartBytes);
    this.#claim();
    // Loaded on first use: an app that never parses multipart never pays for busboy.
    const busboy = (await import('busboy')).default;
    return new Promise<Multipart>((resolve, reject) => {
      let failed: HttpError | undefined;
      const fail = (e: HttpError): void => { failed ??= e; };
      let bb: Busboy;
      try {
        bb = busboy({
          headers: { 'content-type': type },
          defParamCharset: 'utf8',
          limits: { fileSize: l.maxFileBytes, files: l.maxFiles, fields: l.maxFields, fieldSize: l.maxBodyBytes, parts: l.maxFiles + l.maxFields },
        });
      } catch (err) {
        reject(new HttpError(400, 'ERR_BAD_REQUEST_BODY', `bad multipart Content-Type: ${(err as Error).message}`));
        return;
      }
      const fields = new URLSearchParams();
      const files: UploadedFile[] = [];
      bb.on('field', (name, value, info) => {
        if (info.valueTruncated) fail(tooLarge(l.maxBodyBytes, `field ${name}`));
        fields.append(name, value);
      });
      bb.on('file', (field, stream, info) => {
        const parts: Buffer[] = [];
        stream.on('data', (d: Buffer) => parts.push(d));
        stream.on('limit', () => fail(tooLarge(l.maxFileBytes, `file ${info.filename ?? field}`)));
        stream.on('close', () => {
          files.push({ field, filename: info.filename ?? '', mimeType: info.mimeType, data: Buffer.concat(parts) });
        });
      });
      bb.on('filesLimit', () => fail(new HttpError(413, 'ERR_LIMIT_BODY', `more than ${l.maxFiles} files`)));
      bb.on('fieldsLimit', () => fail(new HttpError(413, 'ERR_LIMIT_BODY', `more than ${l.maxFields} fields`)));
      bb.on('partsLimit', () => fail(new HttpError(413, 'ERR_LIMIT_BODY', 'too many parts')));
      bb.on('error', (err: Error) => reject(failed ?? new HttpError(400, 'ERR_BAD_REQUEST_BODY', `bad multipart body: ${err.message}`)));
      bb.on('close', () => (failed ? reject(failed) : resolve({ fields, files })));
      const input = this.environ['wsgi.input'];
      let total = 0;
      for (;;) {
        const chunk = input.read(65536);
        if (chunk.length === 0) break;
        total += chunk.length;
        if (total > l.maxMultipartBytes) {
          fail(tooLarge(l.maxMultipartBytes));
          break;
        }
        bb.write(chunk);
      }
      bb.end();
    });
  }

  #claim(): void {
    if (this.#consumed) throw new HttpError(500, 'ERR_BAD_REQUEST_BODY', 'the request body was already read');
    this.#consumed = true;
  }

  /** Reads the body through wsgi.input (C9: never past CONTENT_LENGTH). */
  #read(limit: number): Buffer {
    if (this.contentLength > limit) throw tooLarge(limit);
    this.#claim();
    const input = this.environ['wsgi.input'];
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = input.read(65536);
      if (chunk.length === 0) break;
      total += chunk.length;
      if (total > limit) throw tooLarge(limit);
      parts.push(chunk);
    }
    return Buffer.concat(parts, total);
  }
}

function tooLarge(limit: number, what = 'the request body'): HttpError {
  return new HttpError(413, 'ERR_LIMIT_BODY', `${what} is larger than ${limit} bytes`);
}
