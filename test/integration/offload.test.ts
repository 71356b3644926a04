// Offload through the real web servers (X1, X2): nginx over fastcgi_pass and
// uwsgi_pass and scgi_pass with `--offload nginx:/internal/`, Apache mod_proxy_fcgi with
// mod_xsendfile and `--offload sendfile`. The client gets the file's exact
// bytes while tsgi's access log shows it sent no body; Range, HEAD and 304
// stay right; an event stream passes nginx as it is written. The configs are
// the ones docs/offload.md gives.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from './http-client.js';
import { ROOT, freePort, runDir, serverUser, serversAvailable, waitFor, which, type Running } from './servers.js';
import { startTsgi, stopAll, type TsgiProcess } from './tsgi-process.js';

const haveNginx = serversAvailable('offload behind nginx', ['nginx']);
const xsendfile = '/usr/lib/apache2/modules/mod_xsendfile.so';
const haveApache = serversAvailable('offload behind Apache', ['apache2']) && (existsSync(xsendfile) || (() => {
  const msg = 'offload behind Apache: mod_xsendfile not installed (apt-get install libapache2-mod-xsendfile)';
  if (process.env.TSGI_REQUIRE_SERVERS === '1') throw new Error(`${msg}, and TSGI_REQUIRE_SERVERS=1 forbids skipping`);
  process.stderr.write(`\n!!! SKIPPING ${msg}\n\n`);
  return false;
})());

const APP = join(ROOT, 'test/fixtures/offload-app.js');
/** The fenced block after `<!-- recipe: NAME -->` in docs/offload.md: the configs below use the page's own. */
const recipe = (name: string): string => {
  const m = new RegExp(`<!-- recipe: ${name} -->\\n\`\`\`\\w*\\n([^]*?)\\n\`\`\`\\n`).exec(readFileSync(join(ROOT, 'docs/offload.md'), 'utf8'));
  if (!m) throw new Error(`docs/offload.md has no recipe ${name}`);
  return m[1]!;
};
const big = Buffer.alloc(3 * 1024 * 1024 + 17);
for (let i = 0; i < big.length; i++) big[i] = (i * 131 + (i >> 11)) & 0xff;
const ODD = 'a b?#%é.txt'; // a name that needs encoding in a URI

/** The served tree, readable by the web server's user: a big file, an odd name, a dotfile, a symlink out. */
function files(dir: string): string {
  const root = join(dir, 'files');
  mkdirSync(root, { mode: 0o755 });
  chmodSync(root, 0o755);
  writeFileSync(join(root, 'big.bin'), big, { mode: 0o644 });
  writeFileSync(join(root, ODD), 'odd name\n', { mode: 0o644 });
  writeFileSync(join(root, '.secret'), 'secret\n', { mode: 0o644 });
  symlinkSync('/etc/passwd', join(root, 'passwd'));
  return root;
}

/** Runs a web server on a config written to `dir`, in its own process group; waits for `port`. */
async function startServer(bin: string, args: string[], dir: string, port: number, env: Record<string, string> = {}): Promise<Running> {
  const child = spawn(bin, args, { detached: true, env: { PATH: process.env.PATH ?? '', ...env } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`${bin} exited: ${out}`);
    return new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
  }, `${bin} to listen`, 30_000);
  return {
    child, dir, log: () => out,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { resolve(); }
    }),
  };
}

const nginxConf = (dir: string, port: number, fcgi: string, uwsgi: string, scgi: string): string => `
${process.getuid?.() === 0 ? 'user www-data;' : ''}
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path ${dir}/client_body;
    fastcgi_temp_path ${dir}/fastcgi_temp;
    uwsgi_temp_path ${dir}/uwsgi_temp;
    proxy_temp_path ${dir}/proxy_temp;
    scgi_temp_path ${dir}/scgi_temp;
    server {
        listen 127.0.0.1:${port};
        ${recipe('nginx-offload')}
        location /u/ {
            include /etc/nginx/uwsgi_params;
            uwsgi_pass unix:${uwsgi};
        }
        location /g/ {
            include /etc/nginx/scgi_params;
            scgi_param PATH_INFO $document_uri;
            scgi_pass unix:${scgi};
        }
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:${fcgi};
        }
    }
}
`;

const apacheConf = (dir: string, port: number, fcgi: string, root: string): string => {
  const { user, group } = serverUser();
  return `
ServerRoot ${dir}
ServerName localhost
Listen 127.0.0.1:${port}
PidFile ${dir}/httpd.pid
DefaultRuntimeDir ${dir}
Mutex file:${dir} default
ErrorLog ${dir}/error.log
LogLevel warn
User ${user}
Group ${group}
LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_fcgi_module /usr/lib/apache2/modules/mod_proxy_fcgi.so
StartServers 2
MaxRequestWorkers 8
<Directory />
    Require all denied
</Directory>
<Location "/">
    Require all granted
</Location>
${recipe('apache-xsendfile').replace('/srv/app/public', root)}
ProxyPass "/" "unix:${fcgi}|fcgi://localhost/"
`;
};

/** tsgi's access-log lines (combined format: the status, then the body bytes it sent). */
const sentBytes = (t: TsgiProcess, path: string): number[] =>
  [...t.log().matchAll(new RegExp(`"GET ${path.replace(/[?.*+^$()[\]\\|{}]/g, '\\$&')} HTTP/1\\.[01]" 200 (\\d+|-)`, 'g'))].map((m) => Number(m[1] === '-' ? 0 : m[1]));

async function tsgi(kind: 'fastcgi' | 'uwsgi' | 'scgi', dir: string, root: string, offload: string, extra: string[] = []): Promise<{ t: TsgiProcess; socket: string }> {
  const socket = join(dir, `${kind}.sock`);
  const t = startTsgi([kind, APP, '--socket', socket, '--chmod', '666', '--offload', offload, '--access-log', '-', ...extra], { env: { OFFLOAD_ROOT: root } });
  await waitFor(() => { if (t.child.exitCode !== null) throw new Error(t.log()); return existsSync(socket); }, `tsgi ${kind} to listen`, 30_000);
  return { t, socket };
}

const get = (port: number, path: string, extra = ''): ReturnType<typeof fetchRaw> =>
  fetchRaw(port, `GET ${path} HTTP/1.0\r\nHost: localhost${extra}`);

describe.skipIf(!haveNginx)('offload through nginx (X1, X2)', () => {
  let nginx: Running;
  let port: number;
  let fcgi: Awaited<ReturnType<typeof tsgi>>;
  let uwsgi: Awaited<ReturnType<typeof tsgi>>;
  let scgi: Awaited<ReturnType<typeof tsgi>>;
  let root: string;
  let devPort: number;
  beforeAll(async () => {
    devPort = await freePort();
    const dir = runDir('tsgi-offload-nginx-');
    root = files(dir);
    fcgi = await tsgi('fastcgi', dir, root, 'nginx:/internal/');
    uwsgi = await tsgi('uwsgi', dir, root, 'nginx:/internal/', ['--mount', '/u']);
    scgi = await tsgi('scgi', dir, root, 'nginx:/internal/', ['--mount', '/g']);
    port = await freePort();
    writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, port, fcgi.socket, uwsgi.socket, scgi.socket));
    nginx = await startServer(which('nginx')!, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], dir, port);
  }, 90_000);
  afterAll(async () => { await nginx?.stop(); await stopAll(); });

  for (const [via, prefix, proc] of [['fastcgi_pass', '', () => fcgi], ['uwsgi_pass', '/u', () => uwsgi], ['scgi_pass', '/g', () => scgi]] as const) {
    it(`X1 ${via}: staticFiles and file_wrapper arrive byte for byte from nginx; tsgi sent no body`, async () => {
      for (const path of [`${prefix}/s/big.bin`, `${prefix}/wrap`]) {
        const r = await get(port, path);
        expect(r.status, path).toBe(200);
        expect(r.body.equals(big), path).toBe(true);
        expect(r.head, path).toMatch(/\r\nContent-Length: 3145745\r\n/i);
        expect(r.head, path).not.toMatch(/X-Accel-Redirect/i);
      }
      const wrap = await get(port, `${prefix}/wrap`);
      expect(wrap.head).toMatch(/\r\nContent-Type: application\/octet-stream\r\n/);
      expect(wrap.head).toContain('\r\nContent-Disposition: attachment; filename="big.bin"\r\n');
      const odd = await get(port, `${prefix}/s/${encodeURIComponent(ODD)}`);
      expect([odd.status, odd.body.toString()]).toEqual([200, 'odd name\n']);
      expect(odd.head).toMatch(/\r\nContent-Type: text\/plain; charset=utf-8\r\n/);
      await waitFor(() => sentBytes(proc().t, `${prefix}/s/big.bin`).length >= 1 && sentBytes(proc().t, `${prefix}/wrap`).length >= 2, 'the access log lines');
      expect([...sentBytes(proc().t, `${prefix}/s/big.bin`), ...sentBytes(proc().t, `${prefix}/wrap`)].every((n) => n === 0)).toBe(true);
    });

    it(`X1 ${via}: nginx answers Range (206, the exact slice) and HEAD (the length, no body); a matching If-None-Match gets a 304`, async () => {
      const r = await get(port, `${prefix}/s/big.bin`, '\r\nRange: bytes=1000-1999');
      expect(r.status).toBe(206);
      expect(r.head).toContain(`\r\nContent-Range: bytes 1000-1999/${big.length}\r\n`);
      expect(r.body.equals(big.subarray(1000, 2000))).toBe(true);
      const head = await fetchRaw(port, `HEAD ${prefix}/s/big.bin HTTP/1.0\r\nHost: localhost`);
      expect(head.status).toBe(200);
      expect(head.head).toMatch(/\r\nContent-Length: 3145745\r\n/i);
      expect(head.body.length).toBe(0);
      const etag = /\r\nETag: ("[^"]+")/i.exec((await get(port, `${prefix}/s/big.bin`)).head)![1]!;
      const cached = await get(port, `${prefix}/s/big.bin`, `\r\nIf-None-Match: ${etag}`);
      expect(cached.status).toBe(304);
      expect(cached.body.length).toBe(0);
    });

    it(`X1 H3 ${via}: a dotfile and a symlink leaving the root are 404 from tsgi; /internal/ cannot be asked for directly`, async () => {
      expect((await get(port, `${prefix}/s/.secret`)).status).toBe(404);
      const link = await get(port, `${prefix}/s/passwd`);
      expect(link.status).toBe(404);
      expect(link.body.toString()).not.toContain('root:');
      const direct = await get(port, `/internal${root}/big.bin`);
      expect(direct.status).toBe(404);
      expect((await get(port, '/internal/etc/passwd')).status).toBe(404);
    });
  }

  for (const [via, prefix] of [['fastcgi_pass', ''], ['uwsgi_pass', '/u'], ['scgi_pass', '/g']] as const) {
    it(`X2 ${via}: event one reaches the client while the app still waits, event two only after the client asked for it`, async () => {
      await sideChannel(port, prefix, port);
    });
  }

  it('X2 tsgi http: the same, straight from the dev server', async () => {
    const dev = startTsgi(['http', APP, '--port', String(devPort)], { env: { OFFLOAD_ROOT: root } });
    await dev.waitLog(/listening|http:\/\//, 'the dev server to listen');
    await sideChannel(devPort, '', devPort);
  });
});

/**
 * X2, causally: the app yields event one, then waits until /release is
 * requested. The client asks for the release only after event one reached it;
 * event two must follow. Nothing is timed.
 */
async function sideChannel(port: number, prefix: string, releasePort: number): Promise<void> {
  const s = connect(port, '127.0.0.1');
  let got = '';
  s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
  s.write(`GET ${prefix}/sse HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  try {
    await waitFor(() => got.includes('data: one\n\n'), 'event one');
    expect(got).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(got).toMatch(/\r\nContent-Type: text\/event-stream\r\n/);
    expect(got).not.toContain('data: two');
    // The side channel: only now is the app let go on to its second event.
    expect((await get(releasePort, `${prefix}/release`)).body.toString()).toBe('released\n');
    await waitFor(() => got.includes('data: two\n\n'), 'event two');
  } finally {
    s.destroy();
  }
}

describe.skipIf(!haveApache)('offload through Apache mod_proxy_fcgi + mod_xsendfile (X1)', () => {
  let apache: Running;
  let port: number;
  let fcgi: Awaited<ReturnType<typeof tsgi>>;
  beforeAll(async () => {
    const dir = runDir('tsgi-offload-apache-');
    const root = files(dir);
    fcgi = await tsgi('fastcgi', dir, root, 'sendfile');
    port = await freePort();
    writeFileSync(join(dir, 'httpd.conf'), apacheConf(dir, port, fcgi.socket, root));
    apache = await startServer(which('apache2') ?? which('httpd')!, ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND'], dir, port);
  }, 90_000);
  afterAll(async () => { await apache?.stop(); await stopAll(); });

  it('X1 staticFiles and file_wrapper arrive byte for byte from Apache; tsgi sent no body', async () => {
    for (const path of ['/s/big.bin', '/wrap']) {
      const r = await get(port, path);
      expect(r.status, path).toBe(200);
      expect(r.body.equals(big), path).toBe(true);
      expect(r.head, path).not.toMatch(/X-Sendfile/i);
    }
    const odd = await get(port, `/s/${encodeURIComponent(ODD)}`);
    expect([odd.status, odd.body.toString()]).toEqual([200, 'odd name\n']);
    await waitFor(() => sentBytes(fcgi.t, '/s/big.bin').length >= 1 && sentBytes(fcgi.t, '/wrap').length >= 1, 'the access log lines');
    expect([...sentBytes(fcgi.t, '/s/big.bin'), ...sentBytes(fcgi.t, '/wrap')].every((n) => n === 0)).toBe(true);
  });

  it('X1 Apache answers Range and HEAD from the file; a dotfile and a symlink out of the root stay 404', async () => {
    const r = await get(port, '/s/big.bin', '\r\nRange: bytes=1000-1999');
    expect(r.status).toBe(206);
    expect(r.body.equals(big.subarray(1000, 2000))).toBe(true);
    const head = await fetchRaw(port, 'HEAD /s/big.bin HTTP/1.0\r\nHost: localhost');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect((await get(port, '/s/.secret')).status).toBe(404);
    expect((await get(port, '/s/passwd')).status).toBe(404);
  });
});
