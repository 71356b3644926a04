// H1 behind a real nginx: nginx hands tsgi a path it has decoded and tidied
// (SCRIPT_NAME = $fastcgi_script_name, stock fastcgi_params) while
// REQUEST_URI stays as the client sent it, and that raw target is what the
// bridge gives Express. auth() must hold for both. The README's example,
// `compose(fromNodeListener(expressApp), auth({ basic, protect: ['/admin'] }))`,
// runs under `tsgi fastcgi` behind nginx/fastcgi.conf as shipped; the same
// app without auth() shows which spellings Express really routes to /admin.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from './http-client.js';
import { ROOT, freePort, runDir, serversAvailable, startNginx, waitFor, type Running } from './servers.js';

const BASIC = `Basic ${Buffer.from('admin:pw').toString('base64')}`;

function appModule(dir: string, guarded: boolean): string {
  const file = join(dir, guarded ? 'guarded.mjs' : 'open.mjs');
  const url = (p: string): string => JSON.stringify(pathToFileURL(join(ROOT, p)).href);
  writeFileSync(file, `import { createRequire } from 'node:module';
import { fromNodeListener } from ${url('dist/bridges.js')};
import { compose, auth } from ${url('dist/middleware.js')};
const express = createRequire(${JSON.stringify(join(ROOT, 'package.json'))})('express');
const app = express();
app.get('/admin', (_req, res) => { res.send('ADMIN HOME'); });
app.get('/admin/secret', (_req, res) => { res.send('SECRET'); });
app.get('/admin/:file', (req, res) => { res.send('ADMIN FILE ' + req.params.file); });
app.get('/public', (_req, res) => { res.send('PUBLIC'); });
app.use((req, res) => { res.status(404).send('no route'); });
export default ${guarded ? "compose(fromNodeListener(app), auth({ basic: { admin: 'pw' }, protect: ['/admin'] }))" : 'fromNodeListener(app)'};
`);
  return file;
}

interface Tsgi { socket: string; child: ChildProcess; log: () => string }

async function tsgiFastcgi(dir: string, app: string, name: string): Promise<Tsgi> {
  const socket = join(dir, `${name}.sock`);
  const child = spawn(process.execPath, [join(ROOT, 'bin/tsgi.cjs'), 'fastcgi', app, '--socket', socket, '--chmod', '666'],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  await waitFor(() => { if (child.exitCode !== null) throw new Error(`tsgi exited: ${out}`); return existsSync(socket); }, 'tsgi fastcgi to listen');
  return { socket, child, log: () => out };
}

const SPELLINGS = [
  '/admin/secret', '/ADMIN/secret', '/Admin/Secret', '/%61dmin/secret', '/%41DMIN/secret', '//admin/secret', '/./admin/secret',
  '/x/../admin/secret', '/X/../ADMIN/secret', '/admin/..%2Fpublic', '/ADMIN/..%2fpublic', '/admin/%2e%2e%2Fpublic', '/admin%2Fsecret',
  '/admin;x/secret', '/admin/secret;x', '/admin/secret.', '/%2561dmin/secret', '/public/..%2F..%2Fadmin/secret',
];

const haveNginx = serversAvailable('H1 auth behind nginx', ['nginx']);
describe.skipIf(!haveNginx)('H1 auth() behind a real nginx (nginx/fastcgi.conf, tsgi fastcgi, Express through the bridge)', () => {
  const dir = runDir('tsgi-h1-nginx-');
  const tsgis: Tsgi[] = [];
  const nginxes: Running[] = [];
  let open = 0;
  let guarded = 0;
  beforeAll(async () => {
    for (const g of [false, true]) {
      const sub = runDir(`tsgi-h1-nginx-${g ? 'guarded' : 'open'}-`);
      const t = await tsgiFastcgi(dir, appModule(dir, g), g ? 'guarded' : 'open');
      tsgis.push(t);
      const n = await startNginx('fastcgi.conf', { RUN_DIR: sub, SOCKET: t.socket, PLAIN_PORT: String(await freePort()) });
      nginxes.push(n);
      if (g) guarded = n.port; else open = n.port;
    }
  });
  afterAll(async () => {
    await Promise.all(nginxes.map((n) => n.stop()));
    for (const t of tsgis) {
      if (t.child.exitCode === null) {
        const gone = new Promise((r) => t.child.once('exit', r));
        t.child.kill('SIGTERM');
        await gone;
      }
    }
  });

  it('H1 no spelling reaches an /admin handler without credentials, though Express routes several of them there', async () => {
    const reached: string[] = [];
    for (const t of SPELLINGS) {
      const bare = await fetchRaw(open, `GET ${t} HTTP/1.0\r\nHost: localhost`);
      if (/^(SECRET|ADMIN FILE|ADMIN HOME)/.test(bare.body.toString())) reached.push(t);
      const r = await fetchRaw(guarded, `GET ${t} HTTP/1.0\r\nHost: localhost`);
      expect(r.body.toString(), t).not.toMatch(/SECRET|ADMIN FILE|ADMIN HOME/);
      // nginx refuses some targets itself (400); everything else is the 401.
      expect([400, 401], `${t} ${r.status}`).toContain(r.status);
    }
    // Case, and an encoded slash nginx decodes (and tidies away) but Express never sees decoded.
    expect(reached).toEqual(expect.arrayContaining(['/ADMIN/secret', '/Admin/Secret', '/admin/..%2Fpublic', '/ADMIN/..%2fpublic']));
  });

  it('H1 a raw byte Express trims off the end of the target (0xA0, which its URL parser counts as white space) still meets the rule', async () => {
    // nginx passes a raw 0xA0 through; node:http would refuse it, but the bridge hands REQUEST_URI to Express as it came,
    // and Express's parseurl gives such a target to url.parse, which trims leading and trailing white space: /admin\xa0 is /admin.
    const spellings = ['/admin\xa0', '/ADMIN\xa0', '/admin\xa0\xa0', '/admin/\xa0', '/Admin%20\xa0'];
    const reached: string[] = [];
    for (const t of spellings) {
      const bare = await fetchRaw(open, `GET ${t} HTTP/1.0\r\nHost: localhost`);
      if (/^ADMIN HOME/.test(bare.body.toString())) reached.push(t);
      const r = await fetchRaw(guarded, `GET ${t} HTTP/1.0\r\nHost: localhost`);
      expect(r.body.toString(), JSON.stringify(t)).not.toMatch(/ADMIN HOME/);
      expect([400, 401], `${JSON.stringify(t)} ${r.status}`).toContain(r.status);
    }
    expect(reached).toEqual(expect.arrayContaining(['/admin\xa0', '/ADMIN\xa0']));
  });

  it('H1 with the credentials Express answers as it would alone; paths outside /admin stay open', async () => {
    const ok = await fetchRaw(guarded, `GET /ADMIN/secret HTTP/1.0\r\nHost: localhost\r\nAuthorization: ${BASIC}`);
    expect([ok.status, ok.body.toString()]).toEqual([200, 'SECRET']);
    const pub = await fetchRaw(guarded, 'GET /public HTTP/1.0\r\nHost: localhost');
    expect([pub.status, pub.body.toString()]).toEqual([200, 'PUBLIC']);
  });
});
