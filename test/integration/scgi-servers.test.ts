// SCGI behind real web servers, on loopback ports (G4): nginx scgi_pass
// (nginx/scgi.conf, as shipped), Apache mod_proxy_scgi (apache/proxy-scgi.conf,
// as shipped) and lighttpd mod_scgi where it is installed. The exact bytes of
// each answer (the Date header aside), POST bodies, a large upload and
// download, repeated headers, an app error.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader } from '../../src/protocol/scgi.js';
import { dechunk, fetchRaw } from './http-client.js';
import { WORKER_APP, startTsgi as startProcess, stopAll } from './tsgi-process.js';
import { ROOT, freePort, portOpen, runDir, serversAvailable, startApache, startNginx, waitFor, which, type Running } from './servers.js';

const PEER = `${ROOT}/test/fixtures/peer.js`;
const MB10 = 10 * 1024 * 1024;
const upload = (() => { const u = Buffer.alloc(MB10); for (let i = 0; i < u.length; i++) u[i] = (i * 31 + (i >> 13)) & 255; return u; })();
const uploadSum = `${MB10} ${createHash('sha256').update(upload).digest('hex')}`;
const block = (() => { const blk = Buffer.alloc(65536); for (let i = 0; i < blk.length; i++) blk[i] = (i * 7) & 0xff; return blk; })();

interface Tsgi { socket: string; log: () => string; stop: () => Promise<void> }

/** `tsgi scgi test/fixtures/peer.js --socket DIR/scgi.sock --chmod 666`. */
async function startTsgi(dir: string): Promise<Tsgi> {
  const socket = join(dir, 'scgi.sock');
  const child = spawn(process.execPath, [`${ROOT}/bin/tsgi.cjs`, 'scgi', PEER, '--socket', socket, '--chmod', '666'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  await waitFor(() => { if (child.exitCode !== null) throw new Error(`tsgi exited: ${out}`); return existsSync(socket); }, 'tsgi scgi to listen');
  return {
    socket,
    log: () => out,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }),
  };
}

/** lighttpd with mod_scgi on a free port, every path to `socket`. */
async function startLighttpd(dir: string, socket: string): Promise<Running & { port: number }> {
  const port = await freePort();
  const conf = join(dir, 'lighttpd.conf');
  writeFileSync(conf, `server.modules = ("mod_scgi")
server.document-root = "${dir}"
server.bind = "127.0.0.1"
server.port = ${port}
server.pid-file = "${dir}/lighttpd.pid"
server.username = "www-data"
server.groupname = "www-data"
server.max-request-size = 51200
scgi.server = ("/" => ((
  "socket" => "${socket}",
  "check-local" => "disable",
  "fix-root-scriptname" => "enable",
)))
`);
  const child = spawn(which('lighttpd')!, ['-D', '-f', conf], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  await waitFor(async () => { if (child.exitCode !== null) throw new Error(`lighttpd exited: ${out}`); return portOpen(port); }, 'lighttpd to listen');
  return {
    child, dir, port,
    log: () => out,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
    }),
  };
}

const get = (port: number, path: string, headers = ''): ReturnType<typeof fetchRaw> => fetchRaw(port, `GET ${path} HTTP/1.0\r\nHost: localhost${headers}`);
/** The response with its Date (and Apache's, lighttpd's Server version) header taken out: the rest is asserted byte for byte. */
/**
 * `lengthOptional`: Apache computes a Content-Length of its own when the whole
 * body came in one read, and sends none otherwise; where it is there it must be
 * the body's length, and is then taken out.
 */
const exact = (r: { raw: Buffer; body: Buffer }, lengthOptional = false): string => {
  let text = r.raw.toString('latin1').replace(/\r\nDate: [^\r]*/, '').replace(/\r\nServer: [^\r]*/, '\r\nServer: *');
  if (lengthOptional) text = text.replace(`\r\nContent-Length: ${r.body.length}\r\n`, '\r\n');
  return text;
};
const envOf = async (port: number, path: string, headers = ''): Promise<Record<string, string>> => JSON.parse(dechunk(await get(port, path, headers)).toString('latin1'));

interface Front { name: string; port: () => number; log: () => string }

/** What every front must carry byte for byte. `heads`: the exact head of a hello answer through it. */
function scgiCases(f: Front, heads: { hello: string; notFound: string; boom: string; lengthOptional?: boolean }, cookieJoin = '; '): void {
  it(`G4 G2 the exact answer through ${f.name}`, async () => {
    expect(JSON.stringify(exact(await get(f.port(), '/hello'), heads.lengthOptional))).toBe(JSON.stringify(`${heads.hello}Hello, world!\n`));
    expect(JSON.stringify(exact(await get(f.port(), '/nowhere'), heads.lengthOptional))).toBe(JSON.stringify(`${heads.notFound}no route /nowhere\n`));
  });

  it(`G4 G1 the request's variables through ${f.name}: SCGI 1, the path, the query, a latin-1 byte, no CONTENT_LENGTH without a body`, async () => {
    const env = await envOf(f.port(), '/env?x=%E9', '\r\nX-Latin: caf\xe9');
    expect(env.SCGI).toBe('1');
    expect(env.HTTP_X_LATIN).toBe('caf\xe9');
    expect(env.PATH_INFO).toBe('/env');
    expect(env.SCRIPT_NAME).toBe('');
    expect(env.QUERY_STRING).toBe('x=%E9');
    expect(env.REQUEST_METHOD).toBe('GET');
    expect(env.CONTENT_LENGTH).toBeUndefined();
  });

  it(`G3 a POST body arrives as CONTENT_LENGTH bytes through ${f.name}`, async () => {
    const r = await fetchRaw(f.port(), 'POST /upload HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/octet-stream', Buffer.from('hello, scgi'));
    expect(r.status).toBe(200);
    expect(dechunk(r).toString()).toBe(`11 ${createHash('sha256').update('hello, scgi').digest('hex')}`);
  });

  it(`G3 S4 a 10 MB upload and a 10 MB download arrive byte for byte through ${f.name}`, async () => {
    const up = await fetchRaw(f.port(), 'POST /upload HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/octet-stream', upload);
    expect(dechunk(up).toString()).toBe(uploadSum);
    const down = await get(f.port(), '/download?mb=10');
    expect(down.status).toBe(200);
    expect(dechunk(down).equals(Buffer.concat(Array(160).fill(block)))).toBe(true);
  });

  it(`G1 repeated headers arrive joined through ${f.name}`, async () => {
    const env = await envOf(f.port(), '/env', '\r\nX-Dup: a\r\nX-Dup: b\r\nCookie: a=1\r\nCookie: b=2');
    expect(env.HTTP_X_DUP).toBe('a, b');
    expect(env.HTTP_COOKIE).toBe(`a=1${cookieJoin}b=2`);
  });

  it(`C18 an app error is a clean 500 through ${f.name}`, async () => {
    const r = await get(f.port(), '/boom');
    expect(JSON.stringify(exact(r, heads.lengthOptional))).toBe(JSON.stringify(`${heads.boom}A server error occurred.  Please contact the administrator.`));
  });
}

/** The fenced block after `<!-- recipe: NAME -->` in docs/adapters.md. */
const recipe = (name: string): string => new RegExp(`<!-- recipe: ${name} -->\\n\`\`\`\\w*\\n([^]*?)\\n\`\`\`\\n`).exec(readFileSync(`${ROOT}/docs/adapters.md`, 'utf8'))![1]!;

describe('SCGI recipes', () => {
  it('G4 the nginx and Apache recipes of docs/adapters.md are what nginx/scgi.conf and apache/proxy-scgi.conf (run below) hold', () => {
    const nginx = recipe('scgi-nginx').replaceAll('/run/tsgi/app.sock', '@SOCKET@').split('\n');
    const shipped = readFileSync(`${ROOT}/nginx/scgi.conf`, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    const at = shipped.indexOf(nginx[0]!);
    expect(at).toBeGreaterThan(-1);
    expect(shipped.slice(at, at + nginx.length)).toEqual(nginx.map((l) => l.trim()));
    const apache = recipe('scgi-apache').replaceAll('/run/tsgi/app.sock', '${TSGI_SOCKET}');
    expect(readFileSync(`${ROOT}/apache/proxy-scgi.conf`, 'utf8').split('\n')).toContain(apache);
  });
});

const haveNginx = serversAvailable('nginx SCGI suite', ['nginx']);
describe.skipIf(!haveNginx)('SCGI under a real nginx (nginx/scgi.conf: scgi_pass, stock scgi_params)', () => {
  let nginx: Running & { port: number };
  let tsgi: Tsgi;
  beforeAll(async () => {
    const dir = runDir('tsgi-nginx-scgi-');
    tsgi = await startTsgi(dir);
    nginx = await startNginx('scgi.conf', { RUN_DIR: dir, SOCKET: tsgi.socket });
  });
  afterAll(async () => { await nginx?.stop(); await tsgi?.stop(); });

  scgiCases({ name: 'nginx scgi_pass', port: () => nginx.port, log: () => nginx.log() }, {
    hello: 'HTTP/1.1 200 OK\r\nServer: *\r\nContent-Type: text/plain\r\nContent-Length: 14\r\nConnection: close\r\n\r\n',
    notFound: 'HTTP/1.1 404 Not Found\r\nServer: *\r\nContent-Type: text/plain\r\nContent-Length: 18\r\nConnection: close\r\n\r\n',
    boom: 'HTTP/1.1 500 Internal Server Error\r\nServer: *\r\nContent-Type: text/plain\r\nContent-Length: 59\r\nConnection: close\r\n\r\n',
  });

  it('G3 a chunked upload through nginx arrives with its real length as CONTENT_LENGTH', async () => {
    const chunks = [Buffer.alloc(70_000, 1), Buffer.alloc(5, 2)];
    const raw = Buffer.concat([...chunks.flatMap((c) => [Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')]);
    const r = await fetchRaw(nginx.port, 'POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked', undefined, raw);
    expect(dechunk(r).toString()).toBe(`70005 ${createHash('sha256').update(Buffer.concat(chunks)).digest('hex')}`);
  });
});

const haveApache = serversAvailable('Apache SCGI suite', ['apache2']);
describe.skipIf(!haveApache)('SCGI under a real Apache (apache/proxy-scgi.conf: mod_proxy_scgi)', () => {
  let apache: Running & { port: number };
  let tsgi: Tsgi;
  beforeAll(async () => {
    const dir = runDir('tsgi-apache-scgi-');
    tsgi = await startTsgi(dir);
    apache = await startApache('proxy-scgi.conf', { TSGI_RUN_DIR: dir, TSGI_SOCKET: tsgi.socket });
  });
  afterAll(async () => { await apache?.stop(); await tsgi?.stop(); });

  scgiCases({ name: 'Apache mod_proxy_scgi', port: () => apache.port, log: () => apache.log() }, {
    hello: 'HTTP/1.1 200 OK\r\nServer: *\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n',
    notFound: 'HTTP/1.1 404 Not Found\r\nServer: *\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n',
    boom: 'HTTP/1.1 500 Internal Server Error\r\nServer: *\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n',
    lengthOptional: true,
  }, ', ');
});

// lighttpd is optional (Debian's lighttpd package): skipped loudly without it, a failure under TSGI_REQUIRE_SERVERS=1.
const haveLighttpd = serversAvailable('lighttpd SCGI suite', ['lighttpd']);
describe.skipIf(!haveLighttpd)('SCGI under a real lighttpd (mod_scgi)', () => {
  let lighttpd: Running & { port: number };
  let tsgi: Tsgi;
  beforeAll(async () => {
    const dir = runDir('tsgi-lighttpd-scgi-');
    tsgi = await startTsgi(dir);
    lighttpd = await startLighttpd(dir, tsgi.socket);
  });
  afterAll(async () => { await lighttpd?.stop(); await tsgi?.stop(); });

  scgiCases({ name: 'lighttpd mod_scgi', port: () => lighttpd.port, log: () => lighttpd.log() }, {
    hello: 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\nConnection: close\r\nServer: *\r\n\r\n',
    notFound: 'HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 18\r\nConnection: close\r\nServer: *\r\n\r\n',
    boom: 'HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\nConnection: close\r\nServer: *\r\n\r\n',
  });
});

/** One SCGI request over TCP, the raw answer. */
function scgiGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.write(encodeHeader([['REQUEST_METHOD', 'GET'], ['REQUEST_URI', path], ['PATH_INFO', path], ['SERVER_PROTOCOL', 'HTTP/1.1'],
      ['SERVER_NAME', 'x'], ['SERVER_PORT', '80'], ['REMOTE_ADDR', '192.0.2.7']]));
  });
}

const haveActivate = serversAvailable('SCGI socket activation', ['systemd-socket-activate']);
describe.skipIf(!haveActivate)('tsgi scgi under a master', () => {
  afterEach(stopAll);

  it('G5 P7 P3 systemd socket activation, --workers 2, the access log, a SIGHUP reload: every request answered', async () => {
    const port = await freePort();
    const t = startProcess(['scgi', WORKER_APP, '--workers', '2', '--access-log', '-'], { shell: `exec systemd-socket-activate -l 127.0.0.1:${port} "$@"` });
    await t.waitLog(/Listening on/, 'systemd-socket-activate');
    // systemd-socket-activate starts tsgi at the first connection, which waits for the workers.
    expect(await scgiGet(port, '/first')).toMatch(/^Status: 200 OK\r\nContent-Type: text\/plain\r\nContent-Length: \d+\r\n\r\npid \d+\n$/);
    await t.waitLog(/\) ready/, 'two workers', 2);
    expect(t.log()).toMatch(/scgi .*worker-app\.js on fd 3/);
    const before = new Set(t.readyPids());
    t.child.kill('SIGHUP');
    await t.waitLog(/reload: generation \d+ serving/, 'the reload');
    const pids = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await scgiGet(port, `/after-${i}`);
      expect(r).toMatch(/^Status: 200 OK\r\n/);
      pids.add(/pid (\d+)/.exec(r)![1]!);
    }
    for (const pid of pids) expect(before.has(Number(pid))).toBe(false);
    await t.waitLog(/"GET \/after-5 HTTP\/1\.1" 200 /, 'the access log line');
    expect(t.log()).toMatch(/^192\.0\.2\.7 - - \[[^\]]+\] "GET \/first HTTP\/1\.1" 200 /m);
    expect(await t.stop()).toBe(0);
  });
});
