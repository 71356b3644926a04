// An Express app, unchanged, under every tsgi adapter:
//   npx tsgi http examples/express.ts          (or cgi / fastcgi / uwsgi)
// tsgi recognises an Express app by its shape (--interface node says it outright).
// The same module runs on plain node:http too: http.createServer(app).listen(8000).
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import multer from 'multer';

const app = express();
const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: 20 * 1024 * 1024 } });
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

app.get('/', (_req, res) => { res.type('text/plain').send('Express, served by tsgi.\n'); });
app.get('/hello', (_req, res) => { res.send('Hello, world!\n'); });

// What Express makes of the request: req.ip, protocol and secure come from the peer address.
app.get('/info', (req, res) => {
  res.json({ method: req.method, url: req.url, path: req.path, query: req.query, ip: req.ip, protocol: req.protocol, secure: req.secure, hostname: req.hostname, httpVersion: req.httpVersion });
});

app.post('/json', express.json(), (req, res) => { res.json({ got: req.body }); });
app.post('/form', express.urlencoded({ extended: false }), (req, res) => { res.json({ got: req.body }); });

// A multipart upload through multer (busboy underneath).
app.post('/upload', upload.fields([{ name: 'file' }, { name: 'other' }]), (req, res) => {
  const files = Object.values((req.files ?? {}) as Record<string, Express.Multer.File[]>).flat();
  res.json({ fields: req.body, files: files.map((f) => ({ field: f.fieldname, name: f.originalname, type: f.mimetype, size: f.size, sha256: sha(f.buffer) })) });
});

// 10 MB up: the raw body streamed through req, counted and hashed.
app.post('/big', (req, res) => {
  const hash = createHash('sha256');
  let n = 0;
  req.on('data', (c: Buffer) => { n += c.length; hash.update(c); });
  req.on('end', () => { res.type('text/plain').send(`${n} ${hash.digest('hex')}`); });
});

// 10 MB down, written in blocks with backpressure (res.write returns false, then 'drain').
app.get('/big', (req, res) => {
  const mb = Number(req.query.mb ?? 10);
  const block = Buffer.alloc(65536);
  for (let i = 0; i < block.length; i++) block[i] = (i * 7) & 0xff;
  res.set({ 'Content-Type': 'application/octet-stream', 'Content-Length': String(mb * 1024 * 1024) });
  let left = mb * 16;
  const more = (): void => {
    while (left > 0) { left--; if (!res.write(block)) { res.once('drain', more); return; } }
    res.end();
  };
  more();
});

app.get('/cookies/set', (_req, res) => {
  res.cookie('a', '1', { httpOnly: true }).cookie('b', 'two words', { path: '/cookies' }).send('set\n');
});
app.get('/cookies', (req, res) => { res.json({ cookie: req.get('cookie') ?? null }); });

app.get('/redirect', (_req, res) => { res.redirect('/hello'); });
app.get('/boom', () => { throw new Error('secret-token-123 must not reach the client'); });

// Server-sent events; a client that goes away is seen as 'close' (the marker file proves it).
app.get('/sse', (req, res) => {
  const marker = typeof req.query.marker === 'string' ? req.query.marker : undefined;
  const count = Number(req.query.n ?? 1e9);
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  res.flushHeaders();
  let i = 0;
  const timer = setInterval(() => {
    res.write(`id: ${i}\ndata: tick ${i}\n\n`);
    if (++i >= count) { clearInterval(timer); res.end(); }
  }, 20);
  res.on('close', () => {
    clearInterval(timer);
    if (marker && !res.writableFinished) writeFileSync(marker, `closed after ${i} events\n`);
  });
});

// A path with a percent-encoded latin-1 byte: /caf%E9.
app.get(/^\/caf/, (req, res) => { res.json({ url: req.url, path: req.path }); });

app.use('/static', express.static(fileURLToPath(new URL('./public', import.meta.url))));

// Errors: a fixed page (Express's default shows the stack outside production).
app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
  res.status(500).type('text/plain').send('Something broke.\n');
  void err;
});

export default app;
