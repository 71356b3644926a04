// A FastCGI client for the tests, playing the web server: builds request
// records with the codec and collects the records that come back.
import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import { encodePairs, encodeParams } from '../src/protocol/fastcgi/params.js';
import { RecordDecoder, encodeBeginRequest, encodeRecord, encodeStream } from '../src/protocol/fastcgi/records.js';
import { slow } from './timing.js';

export interface Rec { type: number; id: number; content: Buffer }

export interface RequestOptions {
  role?: number;
  keep?: boolean;
  stdin?: Buffer;
  data?: Buffer;
  /** Leave the STDIN stream open (no empty STDIN record). */
  open?: boolean;
}

/** The bytes of a whole request. */
export function requestBytes(id: number, params: Record<string, string>, o: RequestOptions = {}): Buffer {
  const parts = [encodeBeginRequest(id, o.role ?? 1, o.keep ? 1 : 0), encodeParams(id, Object.entries(params))];
  if (o.stdin && o.stdin.length) parts.push(encodeStream(5, id, o.stdin, false));
  if (!o.open) parts.push(encodeRecord(5, id));
  if (o.data) parts.push(encodeStream(8, id, o.data, true));
  return Buffer.concat(parts);
}

export const GET: Record<string, string> = {
  REQUEST_METHOD: 'GET', SCRIPT_NAME: '/', SERVER_NAME: 'test', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1', QUERY_STRING: '',
};

export interface Reply {
  records: Rec[];
  stdout: Buffer;
  stderr: string;
  appStatus: number;
  protocolStatus: number;
}

export class FcgiClient {
  readonly socket: Socket;
  /** Records not yet taken by reply(). */
  readonly records: Rec[] = [];
  /** Every record received, in order. */
  readonly history: Rec[] = [];
  closed = false;
  #decoder = new RecordDecoder();
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk) => {
      this.#decoder.push(chunk, (type, id, content) => {
        const rec = { type, id, content: Buffer.from(content) };
        this.records.push(rec);
        this.history.push(rec);
      });
      this.#wake();
    });
    socket.on('close', () => { this.closed = true; this.#wake(); });
    socket.on('error', () => {});
  }

  static connect(target: string | number, host = '127.0.0.1'): Promise<FcgiClient> {
    return new Promise((resolve, reject) => {
      const s = typeof target === 'number' ? connect(target, host) : connect(target);
      s.once('connect', () => resolve(new FcgiClient(s)));
      s.once('error', reject);
    });
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Waits until `check()` holds (or the connection closes, or 10 s pass); `ms` is scaled by TSGI_TEST_SLOWNESS. */
  async until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + slow(ms);
    while (!check()) {
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.#waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Resolves once the connection has closed (or rejects after `ms`, scaled by TSGI_TEST_SLOWNESS). */
  async closedWithin(ms = 5000): Promise<void> {
    const deadline = Date.now() + slow(ms);
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.#waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /**
   * Waits for END_REQUEST of `id`; returns that request's records and
   * forgets them, so that the id can be used again.
   */
  async reply(id: number, ms?: number): Promise<Reply> {
    await this.until(() => this.records.some((r) => r.type === 3 && r.id === id), `END_REQUEST ${id}`, ms);
    const endAt = this.records.findIndex((r) => r.type === 3 && r.id === id);
    const records = this.records.filter((r, i) => r.id === id && i <= endAt);
    for (let i = endAt; i >= 0; i--) if (this.records[i]!.id === id) this.records.splice(i, 1);
    const end = records.find((r) => r.type === 3)!.content;
    return {
      records,
      stdout: Buffer.concat(records.filter((r) => r.type === 6).map((r) => r.content)),
      stderr: Buffer.concat(records.filter((r) => r.type === 7).map((r) => r.content)).toString('utf8'),
      appStatus: end.readUInt32BE(0),
      protocolStatus: end[4]!,
    };
  }

  /** Sends one request and waits for its reply. */
  async request(id: number, params: Record<string, string>, o: RequestOptions = {}): Promise<Reply> {
    this.send(requestBytes(id, params, o));
    return this.reply(id);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A CGI-style response (Status line, headers, blank line, body). */
export function parseResponse(stdout: Buffer): { status: string; headers: [string, string][]; body: Buffer } {
  const end = stdout.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no head in ${JSON.stringify(stdout.toString('latin1').slice(0, 200))}`);
  const lines = stdout.subarray(0, end).toString('latin1').split('\r\n');
  const headers = lines.map((l) => { const i = l.indexOf(':'); return [l.slice(0, i), l.slice(i + 1).trim()] as [string, string]; });
  const status = headers.find(([k]) => k.toLowerCase() === 'status')?.[1] ?? '200 OK';
  return { status, headers: headers.filter(([k]) => k.toLowerCase() !== 'status'), body: stdout.subarray(end + 4) };
}

export { encodePairs, encodeRecord };
