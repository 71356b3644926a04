// The framework examples (Express, Koa, Fastify, Hono) under every tsgi
// adapter behind real web servers, compared byte for byte (status, headers
// but Date, body) with the same app on plain node:http behind nginx
// proxy_pass: nginx in front of tsgi cgi (fcgiwrap), fastcgi, uwsgi and http,
// and Apache in front of tsgi fastcgi (mod_proxy_fcgi), uwsgi
// (mod_proxy_uwsgi) and the shared-hosting .htaccess recipes (mod_fcgid, CGI).
import { Buffer } from 'node:buffer';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dechunk, fetchRaw } from './http-client.js';
import {
  ROOT, cgiScript, checkReadableBy, freePort, runDir, serverUser, serversAvailable, startApache, startFcgiwrap, waitFor, which, type Running,
} from './servers.js';

type Kind = 'express' | 'koa' | 'fastify' | 'hono';
interface Req { method?: string; path: string; headers?: string; body?: Buffer }
interface Norm { status: number; headers: string[]; body: Buffer }

const MB10 = 10 * 1024 * 1024;
const upload = (() => { const u = Buffer.alloc(MB10); for (let i = 0; i < u.length; i++) u[i] = (i * 31 + (i >> 13)) & 255; return u; })();
const BOUNDARY = 'tsgi-boundary-7d3f';
const multipart = Buffer.concat([
  Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\ncaf\u00e9 au lait\r\n`),
  Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="data.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
  upload.subarray(0, 300_000),
  Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
]);

// Headers nginx and Apache manage themselves, or that say when, not what.
const SKIP = /^(?:date|server|connection|keep-alive|transfer-encoding)$/;

/** Status, headers (lower-case names, sorted, without SKIP) and the de-chunked body. */
function norm(r: { status: number; head: string; body: Buffer }): Norm {
  const headers = r.head.split('\r\n').slice(1).filter(Boolean).map((line) => {
    const i = line.indexOf(':');
    const name = line.slice(0, i).toLowerCase();
    let value = line.slice(i + 1).trim();
    // @hono/node-server writes Hono's text/plain default as "text/plain; charset=UTF-8",
    // where the Response itself (what the fetch bridge passes on) says "text/plain;charset=UTF-8".
    if (name === 'content-type') value = value.replace(/;\s*/g, '; ');
    return `${name}: ${value}`;
  }).filter((h) => !SKIP.test(h.slice(0, h.indexOf(':')))).sort();
  return { status: r.status, headers, body: dechunk(r) };
}

function send(port: number, q: Req): Promise<Norm> {
  return fetchRaw(port, `${q.method ?? 'GET'} ${q.path} HTTP/1.1\r\nHost: localhost${q.headers ?? ''}`, q.body).then(norm);
}

/** The cases each example runs; Express has them all. */
function cases(kind: Kind): [string, Req][] {
  const json: Req = { method: 'POST', path: '/json', headers: '\r\nContent-Type: application/json', body: Buffer.from('{"a":[1,"caf\u00e9"],"b":null}') };
  const common: [string, Req][] = [
    ['hello', { path: '/hello' }],
    ['a JSON body through the body parser', json],
    ['cookies set (two Set-Cookie)', { path: '/cookies/set' }],
    ['cookies read', { path: '/cookies', headers: '\r\nCookie: a=1; b=2' }],
    ['a redirect', { path: '/redirect' }],
    ['404', { path: '/no/such/page' }],
    ['a thrown error: 500', { path: '/boom' }],
  ];
  if (kind === 'koa' || kind === 'fastify') return [...common, ['the request as the framework sees it', { path: '/info?x=1' }]];
  if (kind === 'hono') {
    return [...common,
      ['a multipart form through parseBody', { method: 'POST', path: '/form', headers: `\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}`, body: multipart }],
      ['a streamed response (SSE)', { path: '/sse?n=3' }]];
  }
  return [...common,
    ['the request as Express sees it (req.ip, protocol, query)', { path: '/info?x=1&y=%E9' }],
    ['an urlencoded body', { method: 'POST', path: '/form', headers: '\r\nContent-Type: application/x-www-form-urlencoded', body: Buffer.from('a=1&b=caf%C3%A9&c=x+y') }],
    ['a multipart upload through multer', { method: 'POST', path: '/upload', headers: `\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}`, body: multipart }],
    ['/caf%E9 in the path', { path: '/caf%E9?q=%E9' }],
    ['a streamed response (SSE)', { path: '/sse?n=3' }],
    ['express.static', { path: '/static/hello.txt' }],
    ['express.static with a Range', { path: '/static/hello.txt', headers: '\r\nRange: bytes=2-7' }],
    ['express.static 304', { path: '/static/hello.txt', headers: '\r\nIf-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT' }],
    ['10 MB up, byte-exact (hashed by the app)', { method: 'POST', path: '/big', headers: '\r\nContent-Type: application/octet-stream', body: upload }],
    ['10 MB down, byte-exact', { path: '/big?mb=10' }],
  ];
}

/** A background process, stopped with SIGTERM (its own pid only). */
function start(cmd: string, args: string[], ready: () => boolean | Promise<boolean>): Promise<{ child: ChildProcess; log: () => string; stop: () => Promise<void> }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'test' } });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const stop = (): Promise<void> => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
  return waitFor(async () => { if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited: ${out}`); return ready(); }, `${args[1] ?? cmd} to start`, 30_000)
    .then(() => ({ child, log: () => out, stop }));
}

const portOpen = (port: number): Promise<boolean> => new Promise((resolve) => {
  const s = connect(port, '127.0.0.1');
  s.on('connect', () => { s.destroy(); resolve(true); });
  s.on('error', () => resolve(false));
});

function nginxConf(dir: string, p: Record<string, number>, s: Record<string, string>): string {
  const common = `include /etc/nginx/fastcgi_params;`;
  return `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body; fastcgi_temp_path ${dir}/fastcgi_temp; proxy_temp_path ${dir}/proxy_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp; scgi_temp_path ${dir}/scgi_temp;
  client_max_body_size 50m;
  upstream node { server 127.0.0.1:${p.node}; keepalive 8; }
  upstream devhttp { server 127.0.0.1:${p.http}; keepalive 8; }
  upstream fcgi { server unix:${s.fastcgi}; keepalive 8; }
  server { listen 127.0.0.1:${p.proxy};
    location / { proxy_pass http://node; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; proxy_buffering off; } }
  server { listen 127.0.0.1:${p.viaHttp};
    location / { proxy_pass http://devhttp; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; proxy_buffering off; } }
  server { listen 127.0.0.1:${p.viaFastcgi};
    location / { ${common} fastcgi_keep_conn on; fastcgi_buffering off; fastcgi_pass fcgi; } }
  server { listen 127.0.0.1:${p.viaUwsgi};
    location / { include /etc/nginx/uwsgi_params; uwsgi_buffering off; uwsgi_pass unix:${s.uwsgi}; } }
  server { listen 127.0.0.1:${p.viaCgi};
    location / { ${common} fastcgi_param SCRIPT_FILENAME ${s.cgiScript}; fastcgi_param SCRIPT_NAME ""; fastcgi_param PATH_INFO $uri;
      fastcgi_buffering off; fastcgi_pass unix:${s.fcgiwrap}; } }
}
`;
}

function apacheConf(dir: string, p: Record<string, number>, s: Record<string, string>, user: { user: string; group: string }): string {
  return `ServerRoot ${dir}
ServerName localhost
Listen 127.0.0.1:${p.apacheFcgi}
Listen 127.0.0.1:${p.apacheUwsgi}
PidFile ${dir}/httpd.pid
DefaultRuntimeDir ${dir}
Mutex file:${dir} default
ErrorLog ${dir}/error.log
LogLevel warn
User ${user.user}
Group ${user.group}
LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_fcgi_module /usr/lib/apache2/modules/mod_proxy_fcgi.so
LoadModule proxy_uwsgi_module /usr/lib/apache2/modules/mod_proxy_uwsgi.so
StartServers 2
MaxRequestWorkers 16
Timeout 30
<VirtualHost 127.0.0.1:${p.apacheFcgi}>
  ProxyPass / unix:${s.fastcgi}|fcgi://localhost/ enablereuse=on
</VirtualHost>
<VirtualHost 127.0.0.1:${p.apacheUwsgi}>
  ProxyPass / unix:${s.uwsgi}|uwsgi://localhost/
</VirtualHost>
`;
}

const haveServers = serversAvailable('bridges suite', ['nginx', 'fcgiwrap', 'apache2']);

for (const kind of ['express', 'koa', 'fastify', 'hono'] as Kind[]) {
  describe.skipIf(!haveServers)(`examples/${kind}.ts under every adapter, against node:http behind nginx proxy_pass`, () => {
    const app = `${ROOT}/examples/${kind}.ts`;
    const tsgi = (args: string[]): string[] => [`${ROOT}/bin/tsgi.cjs`, ...args];
    const procs: { stop: () => Promise<void>; log: () => string }[] = [];
    let nginx: Running & { port: number };
    let apache: Running & { port: number } | undefined;
    let hosting: (Running & { port: number })[] = [];
    let dir = '';
    const p: Record<string, number> = {};
    const s: Record<string, string> = {};

    beforeAll(async () => {
      dir = runDir(`tsgi-bridges-${kind}-`);
      mkdirSync(join(dir, 'markers'), { mode: 0o777 });
      chmodSync(join(dir, 'markers'), 0o777);
      for (const k of ['node', 'http', 'proxy', 'viaHttp', 'viaFastcgi', 'viaUwsgi', 'viaCgi', 'apacheFcgi', 'apacheUwsgi']) p[k] = await freePort();
      s.fastcgi = join(dir, 'fastcgi.sock');
      s.uwsgi = join(dir, 'uwsgi.sock');
      procs.push(await start(process.execPath, ['--import', 'tsx', `${ROOT}/test/fixtures/node-serve.ts`, kind, String(p.node)], () => portOpen(p.node!)));
      procs.push(await start(process.execPath, tsgi(['http', app, '--bind', `127.0.0.1:${p.http}`, '--log-level', 'warn']), () => portOpen(p.http!)));
      procs.push(await start(process.execPath, tsgi(['fastcgi', app, '--socket', s.fastcgi, '--chmod', '666']), () => existsSync(s.fastcgi!)));
      procs.push(await start(process.execPath, tsgi(['uwsgi', app, '--socket', s.uwsgi, '--chmod', '666']), () => existsSync(s.uwsgi!)));
      const wrap = await startFcgiwrap(dir);
      procs.push(wrap);
      s.fcgiwrap = wrap.socket;
      s.cgiScript = cgiScript(dir, 'app.cgi', app);
      const conf = join(dir, 'nginx.conf');
      writeFileSync(conf, nginxConf(dir, p, s));
      const child = spawn(which('nginx')!, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { detached: true });
      nginx = { child, dir, log: () => '', port: p.proxy!, stop: () => new Promise((r) => { child.once('exit', () => r()); process.kill(-child.pid!, 'SIGTERM'); }) };
      await waitFor(() => portOpen(p.viaCgi!), 'nginx to listen');

      const user = serverUser();
      checkReadableBy(user.user, `${ROOT}/examples/${kind}.ts`);
      const aconf = join(dir, 'apache.conf');
      writeFileSync(aconf, apacheConf(dir, p, s, user));
      const a = spawn(which('apache2')!, ['-f', aconf, '-DFOREGROUND'], { detached: true, env: { PATH: process.env.PATH ?? '' } });
      apache = { child: a, dir, log: () => '', port: p.apacheFcgi!, stop: () => new Promise((r) => { a.once('exit', () => r()); process.kill(-a.pid!, 'SIGTERM'); }) };
      await waitFor(() => portOpen(p.apacheUwsgi!), 'apache to listen');

      if (kind === 'express') {
        // The shared-hosting recipes, as a user sets them up: a document root with the .htaccess and a starter.
        for (const [variant, starter, cmd] of [['fcgid', 'app.fcgi', 'fastcgi'], ['cgi', 'app.cgi', 'cgi']] as const) {
          const www = join(dir, `www-${variant}`);
          mkdirSync(www, { mode: 0o755 });
          copyFileSync(`${ROOT}/apache/htaccess-${variant}`, join(www, '.htaccess'));
          writeFileSync(join(www, starter), `#!/bin/sh\nexec ${process.execPath} ${ROOT}/bin/tsgi.cjs ${cmd} ${app}\n`, { mode: 0o755 });
          const run = join(dir, `apache-${variant}`);
          mkdirSync(run, { mode: 0o755 }); // Apache makes fcgid/ in it, owned by the user it runs as
          chmodSync(run, 0o755);
          hosting.push(await startApache('shared-hosting.conf', { TSGI_RUN_DIR: run, TSGI_DOC_ROOT: www }));
        }
      }
    }, 120_000);

    afterAll(async () => {
      await Promise.all([nginx?.stop(), apache?.stop(), ...hosting.map((h) => h.stop()), ...procs.map((x) => x.stop())]);
      hosting = [];
    });

    const targets = (): [string, number][] => [
      ['nginx → tsgi cgi (fcgiwrap)', p.viaCgi!], ['nginx → tsgi fastcgi', p.viaFastcgi!], ['nginx → tsgi uwsgi', p.viaUwsgi!], ['nginx → tsgi http', p.viaHttp!],
      ['Apache mod_proxy_fcgi → tsgi fastcgi', p.apacheFcgi!], ['Apache mod_proxy_uwsgi → tsgi uwsgi', p.apacheUwsgi!],
      ...hosting.map((h, i) => [i === 0 ? 'Apache .htaccess mod_fcgid → tsgi fastcgi' : 'Apache .htaccess CGI → tsgi cgi', h.port] as [string, number]),
    ];

    for (const [what, q] of cases(kind)) {
      it(`B1 B3 B4 ${what}: the same bytes as on node:http, under every adapter and web server`, async () => {
        const want = await send(p.proxy!, q);
        expect(want.status).toBeLessThan(600);
        if (q.path === '/big' && q.method === 'POST') {
          expect(want.body.toString()).toBe(`${MB10} ${createHash('sha256').update(upload).digest('hex')}`);
        }
        const wrong: string[] = [];
        for (const [name, port] of targets()) {
          const got = await send(port, q);
          // Apache re-frames what it relays (chunked for an HTTP/1.1 client): Content-Length is its own there.
          const drop = name.startsWith('Apache') ? (h: string[]) => h.filter((x) => !x.startsWith('content-length:')) : (h: string[]) => h;
          if (got.status !== want.status) wrong.push(`${name}: status ${got.status}, expected ${want.status}`);
          let [g, w] = [drop(got.headers), drop(want.headers)];
          // The engine states the length of a response it knows to be empty, "Content-Length: 0"
          // (C20, vector W5), 304 and a body-less redirect included, where node:http may send none.
          if (got.body.length === 0 && !w.some((h) => h.startsWith('content-length:'))) g = g.filter((h) => h !== 'content-length: 0');
          for (const h of g) if (!w.includes(h)) wrong.push(`${name}: extra header ${h}`);
          for (const h of w) if (!g.includes(h)) wrong.push(`${name}: missing header ${h}`);
          if (!got.body.equals(want.body)) wrong.push(`${name}: body of ${got.body.length} bytes differs (expected ${want.body.length}): ${got.body.subarray(0, 120).toString('latin1')}`);
        }
        expect(wrong).toEqual([]);
      }, 120_000);
    }

    if (kind === 'express') {
      it('C4 a raw 0xE9 byte in the path reaches Express as the latin-1 character (node:http refuses it with 400)', async () => {
        const q: Req = { path: '/caf\xe9' };
        expect((await send(p.proxy!, q)).status).toBe(400);
        const seen: string[] = [];
        for (const [name, port] of targets()) {
          const r = await send(port, q);
          // The dev server is node:http, whose parser refuses the byte before tsgi sees it.
          seen.push(`${name}: ${r.status} ${name.endsWith('tsgi http') ? '' : r.body.toString('utf8')}`);
        }
        expect(seen).toEqual(targets().map(([name]) => `${name}: ${name.endsWith('tsgi http') ? '400 ' : '200 {"url":"/caf\u00e9","path":"/caf\u00e9"}'}`));
      });

      it('B3 a client that goes away from an SSE stream: the app sees \'close\' under every adapter, as on node:http', async () => {
        const missed: string[] = [];
        // Not the CGI targets: neither fcgiwrap nor mod_cgi closes a script's pipe when the client
        // leaves (seen here), so a CGI script, environ app or bridge, runs until it ends by itself.
        const all = [['node:http', p.proxy!] as [string, number], ...targets().filter(([name]) => !name.includes('tsgi cgi'))];
        await Promise.all(all.map(async ([name, port]) => {
          const marker = join(dir, 'markers', `m-${port}`);
          const streamed = await new Promise<boolean>((resolve) => {
            const sock = connect(port, '127.0.0.1');
            let got = '';
            const timer = setTimeout(() => { sock.destroy(); resolve(false); }, 10_000);
            sock.on('data', (d) => { got += d.toString('latin1'); if (got.includes('tick 2')) { clearTimeout(timer); sock.destroy(); resolve(true); } });
            sock.on('error', () => resolve(false));
            sock.write(`GET /sse?marker=${encodeURIComponent(marker)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
          });
          if (!streamed) { missed.push(`${name}: the events did not arrive as they were sent`); return; }
          try {
            await waitFor(() => existsSync(marker), name, 15_000);
          } catch {
            missed.push(name);
          }
        }));
        expect(missed).toEqual([]);
      }, 60_000);
    }
  });
}
