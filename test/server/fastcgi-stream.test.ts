import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureStderr } from '../capture.js';
import type { App, Environ, StartResponse } from '../../src/contract/types.js';
import { LIVE_HIGH_WATER, type LiveBody } from '../../src/gateway/body-stream.js';
import { encodeParams } from '../../src/protocol/fastcgi/params.js';
import { encodeBeginRequest, encodeRecord, encodeStream } from '../../src/protocol/fastcgi/records.js';
import { serveFastCgi, type FastCgiServer } from '../../src/server/fastcgi.js';
import { waitUntil } from '../timing.js';

captureStderr();

const POST = (len?: number): [string, string][] => [
  ['REQUEST_METHOD', 'POST'], ['SCRIPT_NAME', '/'], ['SERVER_NAME', 't'], ['SERVER_PORT', '80'], ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ...(len === undefined ? [['HTTP_TRANSFER_ENCODING', 'chunked'] as [string, string]] : [['CONTENT_LENGTH', String(len)] as [string, string]]),
];

/** Per request id, what its app saw. */
interface Seen { bytes: number; live: LiveBody | null; error: string; gate: Promise<void>; release: () => void }

describe('X3 FastCGI with streamBodies', () => {
  let srv: FastCgiServer;
  let port: number;
  const seen = new Map<string, Seen>();
  const app: App = async function* (environ: Environ, start: StartResponse) {
    const name = environ.QUERY_STRING;
    const s = seen.get(name)!;
    s.live = environ['tsgi.input'] as LiveBody;
    try {
      for await (const c of s.live) { s.bytes += c.length; await s.gate; }
    } catch (err) { s.error = (err as Error).message; }
    start('200 OK', [['Content-Type', 'text/plain']]);
    yield Buffer.from(`${name}:${s.bytes}`);
  } as unknown as App;
  const expect_ = (name: string, gated = false): Seen => {
    let release!: () => void;
    const gate = gated ? new Promise<void>((r) => { release = r; }) : Promise.resolve();
    const s: Seen = { bytes: 0, live: null, error: '', gate, release: () => release?.() };
    seen.set(name, s);
    return s;
  };

  beforeAll(async () => {
    srv = await serveFastCgi(app, { host: '127.0.0.1', port: 0, streamBodies: true, readTimeoutMs: 1000 });
    port = Number(srv.address.text.split(':').pop());
  });
  afterAll(async () => { await srv.close(); });

  const open = (): { socket: Socket; out: () => string } => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    return { socket, out: () => Buffer.concat(chunks).toString('latin1') };
  };

  it('X3 a request already on the connection is answered while another one\'s app holds its streamed body', async () => {
    const slow = expect_('slow', true);
    expect_('quick');
    const { socket, out } = open();
    // Both begun on one connection (FastCGI multiplexing), then the slow one's body, past the high-water mark.
    const withQuery = (id: number, q: string, len: number): Buffer => Buffer.concat([encodeBeginRequest(id, 1, 1), encodeParams(id, [...POST(len), ['QUERY_STRING', q]])]);
    socket.write(Buffer.concat([withQuery(1, 'slow', 4 * LIVE_HIGH_WATER), withQuery(2, 'quick', 5)]));
    socket.write(encodeStream(5, 1, Buffer.alloc(2 * LIVE_HIGH_WATER, 's'), false));
    socket.write(Buffer.concat([encodeStream(5, 2, Buffer.from('hello'), false), encodeRecord(5, 2)]));
    await waitUntil(() => out().includes('quick:5'), 'the other request\'s answer');
    expect(slow.bytes).toBeLessThanOrEqual(65535); // the slow app still holds its first chunk
    slow.release();
    socket.write(Buffer.concat([encodeStream(5, 1, Buffer.alloc(2 * LIVE_HIGH_WATER, 't'), false), encodeRecord(5, 1)]));
    await waitUntil(() => out().includes(`slow:${4 * LIVE_HIGH_WATER}`), 'the slow request\'s answer');
    socket.destroy();
  });

  it('X3 R5 a web server that stalls mid-body is cut off by the read timeout, and the app\'s read fails', async () => {
    const s = expect_('stall');
    const { socket } = open();
    socket.write(Buffer.concat([encodeBeginRequest(1, 1, 1), encodeParams(1, [...POST(10_000), ['QUERY_STRING', 'stall']]), encodeStream(5, 1, Buffer.alloc(100, 'x'), false)]));
    await waitUntil(() => s.bytes === 100, 'the app to see the first bytes');
    await waitUntil(() => s.error !== '', 'the read timeout to fail the body', 15_000);
    expect(s.error).toBe('FastCGI: the connection to the web server closed during the body');
    socket.destroy();
  });
});
