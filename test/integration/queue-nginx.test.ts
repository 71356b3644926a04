// O7 behind a real nginx (fastcgi_pass, nginx/fastcgi.conf): past
// --max-concurrent a request waits and is served when the slot frees, gets
// 503 when it does not free within --queue-timeout, and is never run when its
// client leaves while it waits (nginx closes the upstream connection). Causal:
// the app holds its slot until the test creates a file; the test waits for
// tsgi's debug line that a request is waiting.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dechunk, fetchRaw } from './http-client.js';
import { ROOT, freePort, runDir, serversAvailable, startNginx, waitFor, type Running } from './servers.js';

/** Records each call's path in CALLS; `/hold` waits until RELEASE exists. */
const APP = `import { appendFileSync, existsSync } from 'node:fs';
export default async (environ, start) => {
  appendFileSync(process.env.CALLS, environ.PATH_INFO + '\\n');
  if (environ.PATH_INFO === '/hold') while (!existsSync(process.env.RELEASE)) await new Promise((r) => setTimeout(r, 20));
  start('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from('ran ' + environ.PATH_INFO)];
};
`;

interface Setup { dir: string; nginx: Running & { port: number }; log: () => string; calls: () => string[]; release: () => void; stop: () => Promise<void> }

async function setup(queueTimeout: string): Promise<Setup> {
  const dir = runDir('tsgi-queue-nginx-');
  const app = join(dir, 'app.mjs');
  writeFileSync(app, APP);
  const callsFile = join(dir, 'calls');
  writeFileSync(callsFile, '');
  const socket = join(dir, 'fastcgi.sock');
  const child = spawn(process.execPath, [`${ROOT}/bin/tsgi.cjs`, 'fastcgi', app, '--socket', socket, '--chmod', '666', '--log-level', 'debug', '--max-concurrent', '1', '--queue-timeout', queueTimeout],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CALLS: callsFile, RELEASE: join(dir, 'release') } });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  await waitFor(() => { if (child.exitCode !== null) throw new Error(`tsgi exited: ${out}`); return existsSync(socket); }, 'tsgi fastcgi to listen');
  const nginx = await startNginx('fastcgi.conf', { RUN_DIR: dir, SOCKET: socket, PLAIN_PORT: String(await freePort()) });
  return {
    dir, nginx,
    log: () => out,
    calls: () => readFileSync(callsFile, 'utf8').split('\n').filter(Boolean),
    release: () => writeFileSync(join(dir, 'release'), ''),
    stop: async () => {
      await nginx.stop();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
        await exited;
      }
    },
  };
}

const get = (port: number, path: string): ReturnType<typeof fetchRaw> => fetchRaw(port, `GET ${path} HTTP/1.0\r\nHost: localhost`);
const waitingLines = (s: Setup): number => s.log().split('every request slot is busy; waiting').length - 1;

const haveNginx = serversAvailable('nginx queue suite', ['nginx']);
describe.skipIf(!haveNginx)('O7 the queue behind a real nginx (fastcgi_pass)', () => {
  let wait: Setup;
  let quick: Setup;
  beforeAll(async () => {
    wait = await setup('60');
    quick = await setup('0.5');
  });
  afterAll(async () => { wait?.release(); quick?.release(); await wait?.stop(); await quick?.stop(); });

  it('O7 nginx: a request past --max-concurrent waits; one whose client leaves is never run; the other is served when the slot frees', async () => {
    const held = get(wait.nginx.port, '/hold');
    await waitFor(() => wait.calls().includes('/hold'), 'the first request holding the slot');
    // A client that leaves while its request waits: nginx closes the upstream connection.
    const gone = connect(wait.nginx.port, '127.0.0.1');
    gone.on('error', () => {});
    gone.write('GET /gone HTTP/1.0\r\nHost: localhost\r\n\r\n');
    await waitFor(() => waitingLines(wait) === 1, 'tsgi: /gone waiting');
    gone.destroy();
    await waitFor(() => /waiting request was dropped unrun/.test(wait.log()), 'tsgi: /gone dropped');
    const next = get(wait.nginx.port, '/next');
    await waitFor(() => waitingLines(wait) === 2, 'tsgi: /next waiting');
    wait.release();
    expect(dechunk(await held).toString()).toBe('ran /hold');
    const r = await next;
    expect(r.status).toBe(200);
    expect(dechunk(r).toString()).toBe('ran /next');
    expect(wait.calls()).toEqual(['/hold', '/next']);
  });

  it('O7 nginx: with the slot never freed, the waiting request gets 503 with Retry-After at --queue-timeout, unrun', async () => {
    const held = get(quick.nginx.port, '/hold');
    await waitFor(() => quick.calls().includes('/hold'), 'the first request holding the slot');
    const r = await get(quick.nginx.port, '/next');
    expect(r.status).toBe(503);
    expect(r.head).toMatch(/\r\nRetry-After: 1\r\n/i);
    expect(dechunk(r).toString()).toBe('The server is busy; try again shortly.\n');
    expect(quick.calls()).toEqual(['/hold']);
    expect(quick.log()).toMatch(/GET \/next: no request slot free after \d+ ms \(maxRequests 1, queue timeout 500 ms\); answered 503/);
    quick.release();
    expect(dechunk(await held).toString()).toBe('ran /hold');
  });
});
