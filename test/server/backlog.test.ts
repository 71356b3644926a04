// The listen(2) backlog is a limit with a safe default (S1): Node's own 511 is
// less than the connections nginx opens at once under load (it answers 502 for
// the rest), so tsgi asks for 2048 and takes --backlog. What the kernel holds
// is read back with ss(8): its Send-Q column of a listening socket is the
// backlog the socket got.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serveFastCgi } from '../../src/server/fastcgi.js';
import { serveHttp } from '../../src/server/http.js';
import { serveUwsgi } from '../../src/server/uwsgi.js';
import { waitUntil } from '../timing.js';

const root = new URL('../..', import.meta.url).pathname;
const app = () => [] as Uint8Array[];
const SOMAXCONN = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));

/** The backlog ss reports for the listening socket on `where` (a path, or `HOST:PORT`), or undefined. */
function backlogOf(where: string): number | undefined {
  const r = spawnSync('ss', where.startsWith('/') ? ['-lxnH'] : ['-ltnH'], { encoding: 'utf8' });
  if (r.error) throw new Error(`ss(8) is needed for this test: ${r.error.message}`);
  for (const line of r.stdout.split('\n')) {
    const f = line.trim().split(/\s+/);
    // u_str LISTEN Recv-Q Send-Q PATH …   |   LISTEN Recv-Q Send-Q LOCAL PEER
    if (where.startsWith('/') ? f[4] === where : f[3] === where) return Number(where.startsWith('/') ? f[3] : f[2]);
  }
  return undefined;
}

const dirs: string[] = [];
const done: Array<() => unknown> = [];
afterEach(async () => {
  for (const d of done.splice(0)) await d();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'tsgi-backlog-'));
  dirs.push(d);
  return d;
};

describe('the listen backlog', () => {
  it('S1 a unix socket gets 2048 by default (as far as net.core.somaxconn lets it), not Node\'s 511', async () => {
    const path = join(tmp(), 'app.sock');
    const s = await serveFastCgi(app, { socket: path });
    done.push(() => s.close());
    expect(backlogOf(path)).toBe(Math.min(2048, SOMAXCONN));
  });

  it('S1 backlog: N is what a TCP listener gets, for uwsgi and the dev server', async () => {
    const u = await serveUwsgi(app, { port: 0, backlog: 777 });
    done.push(() => u.close());
    expect(backlogOf(u.address.text)).toBe(777);
    const h = await serveHttp(app, { port: 0, backlog: 333 });
    done.push(() => h.close());
    expect(backlogOf(`127.0.0.1:${h.port}`)).toBe(333);
  });

  it('S1 P1 --backlog N reaches the socket the master shares with its workers (they listen on an inherited fd)', async () => {
    const path = join(tmp(), 'app.sock');
    const child = spawn(process.execPath, [join(root, 'bin/tsgi.cjs'), 'fastcgi', join(root, 'examples/hello.ts'), '--socket', path, '--workers', '2', '--backlog', '321'], { stdio: 'ignore' });
    done.push(() => new Promise((res) => { child.once('exit', res); child.kill('SIGTERM'); }));
    await waitUntil(() => backlogOf(path) === 321, 'the shared socket listening with backlog 321', 20_000);
  });

  it('S1 --backlog 0 or a non-number is a usage error', () => {
    for (const bad of ['0', 'x', '-5']) {
      const r = spawnSync(process.execPath, [join(root, 'bin/tsgi.cjs'), 'fastcgi', join(root, 'examples/hello.ts'), '--port', '0', '--backlog', bad], { encoding: 'utf8' });
      expect(r.status, bad).toBe(2);
      expect(r.stderr, bad).toMatch(/--backlog/);
    }
  });
});
