import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromFetch, fromNodeListener } from '../../src/bridges/index.js';
import { serveHttp, type HttpServer } from '../../src/server/http.js';
import { waitUntil } from '../timing.js';
import { openRaw } from '../integration/http-client.js';


const first = Buffer.alloc(50_000, 'f');
const rest = Buffer.alloc(150_000, 'r');
const want = `${first.length + rest.length} ${createHash('sha256').update(first).update(rest).digest('hex')}`;

/** Sends the head and the first part, waits until `seen()` says the app has it, then sends the rest. */
async function causal(port: number, seen: () => boolean): Promise<string> {
  const { socket, response } = openRaw(port);
  socket.write(Buffer.concat([Buffer.from(`POST /hash HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${first.length + rest.length}\r\n\r\n`), first]));
  await waitUntil(seen, 'the app to see the first bytes');
  socket.write(rest);
  return response;
}

describe('X3 the bridges stream req / Request bodies under streamBodies', () => {
  let seenBytes = 0;
  let expressSrv: HttpServer;
  let fetchSrv: HttpServer;
  beforeAll(async () => {
    const app = express();
    app.post('/hash', (req, res) => {
      const hash = createHash('sha256');
      let n = 0;
      req.on('data', (d: Buffer) => { n += d.length; seenBytes = n; });
      req.pipe(hash);
      hash.on('finish', () => { res.type('text/plain').send(`${n} ${hash.digest('hex')}`); });
    });
    expressSrv = await serveHttp(fromNodeListener(app), { port: 0, streamBodies: true, accessLog: false });
    fetchSrv = await serveHttp(fromFetch(async (request: Request) => {
      const hash = createHash('sha256');
      let n = 0;
      for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) { n += chunk.length; seenBytes = n; hash.update(chunk); }
      return new Response(`${n} ${hash.digest('hex')}`);
    }), { port: 0, streamBodies: true, accessLog: false });
  });
  afterAll(async () => { await expressSrv.close(); await fetchSrv.close(); });

  it('X3 Express: req.pipe(hash) sees the first bytes before the client sends the last ones', async () => {
    seenBytes = 0;
    const text = await causal(expressSrv.port, () => seenBytes > 0);
    expect(text.startsWith('HTTP/1.1 200'), text.slice(0, 200)).toBe(true);
    expect(text.endsWith(want), text.slice(-200)).toBe(true);
  });

  it('X3 fetch bridge: the Request body streams as it arrives', async () => {
    seenBytes = 0;
    const text = await causal(fetchSrv.port, () => seenBytes > 0);
    expect(text.startsWith('HTTP/1.1 200'), text.slice(0, 200)).toBe(true);
    expect(text.endsWith(want), text.slice(-200)).toBe(true);
  });
});
