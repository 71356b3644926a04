// A raw HTTP/1.0 client for the integration tests: exact bytes, no half-close.
import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';

/** One HTTP/1.0 request on a raw socket; returns the exact response bytes. */
export function fetchRaw(port: number, head: string, body?: Buffer, rawBody?: Buffer): Promise<{ status: number; head: string; body: Buffer; raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const out: Buffer[] = [];
    s.on('data', (d) => out.push(d));
    s.on('error', reject);
    s.on('end', () => {
      const raw = Buffer.concat(out);
      const split = raw.indexOf('\r\n\r\n');
      const headText = raw.subarray(0, split + 2).toString('latin1');
      resolve({ status: Number(headText.slice(9, 12)), head: headText, body: raw.subarray(split + 4), raw });
    });
    // No half-close: nginx takes an early FIN from the client as an abort. HTTP/1.0 + close ends it.
    s.write(Buffer.from(`${head}\r\n${body ? `Content-Length: ${body.length}\r\n` : ''}Connection: close\r\n\r\n`, 'latin1'));
    if (body) s.write(body);
    if (rawBody) s.write(rawBody);
  });
}

/** The body of a response that may be chunked (HTTP/1.1). */
export function dechunk(r: { head: string; body: Buffer }): Buffer {
  if (!/\r\nTransfer-Encoding: chunked\r\n/i.test(r.head)) return r.body;
  const parts: Buffer[] = [];
  let off = 0;
  for (;;) {
    const eol = r.body.indexOf('\r\n', off);
    const size = parseInt(r.body.subarray(off, eol).toString('latin1'), 16);
    if (!size) return Buffer.concat(parts);
    parts.push(r.body.subarray(eol + 2, eol + 2 + size));
    off = eol + 2 + size + 2;
  }
}

/** Opens a raw connection to 127.0.0.1:`port`; `response` resolves with everything the server sent once the connection closes. */
export function openRaw(port: number): { socket: Socket; response: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  const out: Buffer[] = [];
  const response = new Promise<string>((resolve) => {
    socket.on('data', (d: Buffer) => out.push(d));
    socket.on('close', () => resolve(Buffer.concat(out).toString('latin1')));
    socket.on('error', () => resolve(Buffer.concat(out).toString('latin1')));
  });
  return { socket, response };
}
