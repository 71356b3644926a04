// The workloads of `npm run bench:real` as a tsgi (environ) app; bench/real/http.cjs
// answers the same paths on node:http and bench/real/app.py on uWSGI-python.
//   GET  /hello          the hello body (measure() checks every backend with it)
//   GET  /await          waits 10 ms (a timer standing in for a database), then 2 bytes
//   GET  /json           a 1 KiB JSON document, serialised per request
//   GET  /bytes/N        N bytes (one preallocated buffer, sent as slices of at most 1 MiB)
//   POST /post           reads the whole body, answers its length
const hello = Buffer.from('Hello, world!\n');
const items = Array.from({ length: 12 }, (_, i) => ({ id: i, name: `item ${i}`, price: i * 3.5, tags: ['a', 'b'] }));
const big = Buffer.alloc(64 * 1024 * 1024, 'x');
const text = [['Content-Type', 'text/plain']];

export default async function app(environ, startResponse) {
  const path = environ.PATH_INFO;
  if (path === '/await') {
    await new Promise((r) => setTimeout(r, 10));
    startResponse('200 OK', [...text, ['Content-Length', '3']]);
    return [Buffer.from('ok\n')];
  }
  if (path === '/json') {
    const body = Buffer.from(JSON.stringify({ ok: true, items }));
    startResponse('200 OK', [['Content-Type', 'application/json'], ['Content-Length', String(body.length)]]);
    return [body];
  }
  if (path.startsWith('/bytes/')) {
    const n = Math.min(Number(path.slice(7)) || 0, big.length);
    startResponse('200 OK', [['Content-Type', 'application/octet-stream'], ['Content-Length', String(n)]]);
    const parts = [];
    for (let i = 0; i < n; i += 1 << 20) parts.push(big.subarray(i, Math.min(n, i + (1 << 20))));
    return parts;
  }
  if (path === '/post') {
    const body = environ['wsgi.input'].read();
    const out = Buffer.from(`${body.length}\n`);
    startResponse('200 OK', [...text, ['Content-Length', String(out.length)]]);
    return [out];
  }
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', '14']]);
  return [hello];
}
