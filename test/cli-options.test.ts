// The command line as a user meets it: per-command help, versions, options
// that do not apply, --port and PORT, one-line bind errors, --config and
// tsgi check. Usage errors always exit 2.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from './integration/servers.js';
import { BIN, WORKER_APP, httpGet, startTsgi, stopAll } from './integration/tsgi-process.js';

const dirs: string[] = [];
afterEach(async () => {
  await stopAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = (prefix: string): string => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

function tsgi(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
}

describe('the tsgi command line', () => {
  it('tsgi COMMAND --help lists that command\'s options only; -v and --version print tsgi\'s and Node\'s versions', () => {
    const http = tsgi(['http', '--help']).stdout;
    const fcgi = tsgi(['fastcgi', '--help']).stdout;
    const cgi = tsgi(['cgi', '--help']).stdout;
    expect(http).toMatch(/^usage: tsgi http APP/);
    expect(http).toContain('--reload');
    expect(http).not.toContain('--socket');
    expect(fcgi).toContain('--socket PATH');
    expect(fcgi).toContain('--no-multiplex');
    expect(cgi).not.toContain('--workers');
    expect(new Set([http, fcgi, cgi]).size).toBe(3);
    for (const flag of ['-v', '--version']) {
      const r = tsgi([flag]);
      expect(r.stdout).toBe(`tsgi ${/\d+\.\d+\.\d+/.exec(r.stdout)![0]}\nNode ${process.version}\n`);
      expect(r.status).toBe(0);
    }
  });

  it('usage errors are one line naming the problem, and exit 2', () => {
    const cases: [string[], RegExp][] = [
      [['http', 'app.js', '--socket', 'x.sock'], /--socket does not apply to tsgi http/],
      [['cgi', 'app.js', '--workers', '2'], /--workers does not apply to tsgi cgi/],
      [['uwsgi', 'app.js', '--no-multiplex', '--socket', 's'], /--no-multiplex does not apply to tsgi uwsgi/],
      [['fastcgi', 'app.js', '--frobnicate'], /unknown option --frobnicate/],
      [['fastcgi', 'app.js', '--workers', 'many'], /--workers many: expected a number of workers/],
      [['http', 'app.js', '--port', '70000'], /--port 70000: expected a port/],
      [['fastcgi', 'app.js', '--socket', 's', '--bind', ':1'], /give --socket or --bind\/--port, not both/],
      [['fastcgi', 'app.js', '--chmod', '660'], /--chmod applies to --socket only/],
      [['http', 'app.js', '--workers'], /--workers needs a value/],
      [['fastcgi', 'app.js', '--socket', 's', '--chmod', 'rw'], /--chmod: rw is not a file mode/],
      [['http'], /APP is missing/],
      [['serve', 'app.js'], /unknown command "serve"/],
      [['http', 'app.js', '--port', '80', 'extra'], /unexpected argument extra/],
    ];
    for (const [args, re] of cases) {
      const r = tsgi(args);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr.split('\n')[0]).toMatch(/^tsgi: /);
      expect(r.status, args.join(' ')).toBe(2);
    }
  });

  it('--port N and the PORT variable set the HTTP port', async () => {
    const port = await freePort();
    const t = startTsgi(['http', WORKER_APP], { env: { PORT: String(port) } });
    await t.waitLog(/serving/, 'tsgi');
    expect((await httpGet(port, '/')).status).toBe(200);
    await t.stop();
    const port2 = await freePort();
    const u = startTsgi(['http', WORKER_APP, '--port', String(port2)], { env: { PORT: String(port) } });
    await u.waitLog(/serving/, 'tsgi');
    expect((await httpGet(port2, '/')).status).toBe(200);
  });

  it('a port in use, a port below 1024 or an unknown --user is one line naming the problem and what to do', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    try {
      for (const extra of [[], ['--workers', '2']]) {
        const r = tsgi(['http', WORKER_APP, '--port', String(port), ...extra]);
        expect(r.stderr).toBe(`tsgi: 127.0.0.1:${port} is already in use: stop the process listening there, or choose another address (--bind, --port or --socket)\n`);
        expect(r.status).toBe(1);
      }
    } finally {
      busy.close();
    }
    for (const extra of [[], ['--workers', '2']]) {
      const r = tsgi(['http', WORKER_APP, '--port', '0', '--user', 'no-such-user-here', ...extra]);
      expect(r.stderr).toBe(process.getuid?.() === 0 ? 'tsgi: user "no-such-user-here" does not exist\n'
        : 'tsgi: --user and --group need tsgi to be started as root (it binds, then drops to them)\n');
      expect(r.status).toBe(2); // bad configuration
    }
    if (process.getuid?.() === 0) {
      // A port below 1024 as an unprivileged user: EACCES, said once, with the fix.
      const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, BIN, 'http', WORKER_APP, '--port', '81'], { encoding: 'utf8' });
      expect(r.stderr).toBe('tsgi: 127.0.0.1:81: permission denied; ports below 1024 need root (or CAP_NET_BIND_SERVICE): use a port of 1024 or more, or start as root with --user\n');
      expect(r.status).toBe(1);
    }
  });

  it('S5 the socket directory is created when missing, or refused with one line', async () => {
    const dir = tempDir('tsgi-sockdir-');
    const socket = join(dir, 'a', 'b', 'app.sock');
    const t = startTsgi(['fastcgi', WORKER_APP, '--socket', socket]);
    await t.waitLog(/serving/, 'tsgi');
    expect(existsSync(socket)).toBe(true);
    expect(await t.stop()).toBe(0);
    expect(existsSync(socket)).toBe(false);
    writeFileSync(join(dir, 'file'), '');
    const r = tsgi(['fastcgi', WORKER_APP, '--socket', join(dir, 'file', 'app.sock')]);
    expect(r.stderr).toMatch(/^tsgi: cannot create .*\/file for the socket .*: ENOTDIR\n$/);
    expect(r.status).toBe(2); // bad configuration
    if (process.getuid?.() === 0) {
      // As an unprivileged user: permission denied, said once, with the fix.
      const ro = join(dir, 'ro');
      mkdirSync(ro, { mode: 0o755 });
      chmodSync(dir, 0o755);
      const u = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, BIN, 'fastcgi', WORKER_APP, '--socket', join(ro, 'x', 'app.sock')], { encoding: 'utf8' });
      if (u.error === undefined && !/cannot read|EACCES.*worker-app|Cannot find/.test(u.stderr)) {
        expect(u.stderr).toMatch(/^tsgi: cannot create .*\/ro\/x for the socket .*: permission denied; create it owned by the user tsgi runs as/);
      }
    }
  });

  it('--config FILE: keys are the option names, the command line wins, an unknown key or a wrong type is named; tsgi check prints the settings', () => {
    const dir = tempDir('tsgi-config-');
    const json = join(dir, 'tsgi.json');
    writeFileSync(json, JSON.stringify({ app: WORKER_APP, workers: 3, 'max-requests': 1000, socket: '/run/tsgi/app.sock', 'access-log': '-' }));
    const ok = tsgi(['check', '--config', json, '--workers', '2']);
    expect(ok.stdout).toContain(`app: ${WORKER_APP} (loads)`);
    expect(ok.stdout).toContain('workers: 2\n');
    expect(ok.stdout).toContain('max-requests: 1000\n');
    expect(ok.stdout).toContain('graceful-timeout: 30 (default)\n');
    expect(ok.stdout).toMatch(/tsgi check: OK\n$/);
    expect(ok.status).toBe(0);
    const mjs = join(dir, 'tsgi.mjs');
    writeFileSync(mjs, `export default { workers: 'auto', 'graceful-timeout': 5 };`);
    expect(tsgi(['check', WORKER_APP, '--config', mjs]).stdout).toContain('graceful-timeout: 5\n');
    writeFileSync(json, JSON.stringify({ wokers: 2 }));
    const unknown = tsgi(['fastcgi', WORKER_APP, '--config', json]);
    expect(unknown.stderr).toMatch(/^tsgi: --config .*tsgi\.json: unknown key "wokers"\n/);
    expect(unknown.status).toBe(2);
    writeFileSync(json, JSON.stringify({ workers: '2x' }));
    const wrong = tsgi(['fastcgi', WORKER_APP, '--config', json]);
    expect(wrong.stderr).toMatch(/^tsgi: --config .*tsgi\.json: "workers": "2x" is not a number of workers/);
    expect(wrong.status).toBe(2);
    writeFileSync(json, JSON.stringify({ socket: '/x.sock' }));
    expect(tsgi(['http', WORKER_APP, '--config', json]).stderr).toMatch(/"socket" does not apply to tsgi http/);
    const broken = join(dir, 'broken.mjs');
    writeFileSync(broken, 'throw new Error("nope")');
    const bad = tsgi(['check', broken]);
    expect(bad.stderr).toMatch(/nope/);
    expect(bad.status).toBe(1);
  });
});
