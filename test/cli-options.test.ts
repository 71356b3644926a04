// The command line as a user meets it: per-command help, versions, options
// that do not apply, --port and PORT, one-line bind errors, --config and
// tsgi check. Usage errors always exit 2.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeHeader } from '../src/protocol/scgi.js';
import { encodePacket } from '../src/protocol/uwsgi.js';
import { FcgiClient, GET } from './fcgi-client.js';
import { freePort, waitFor } from './integration/servers.js';
import { OPTIONS } from '../src/cli/options.js';
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

  it('tsgi --help lists every option (the errors point there); a help line always has a space between an option and its text; bare tsgi is a usage error (exit 2)', () => {
    const help = tsgi(['--help']);
    expect(help.status).toBe(0);
    for (const name of Object.keys(OPTIONS)) expect(help.stdout, name).toMatch(new RegExp(`^  --${name}[ ,]`, 'm'));
    for (const text of [help.stdout, ...(['http', 'cgi', 'fastcgi', 'uwsgi', 'scgi', 'check'] as const).map((c) => tsgi([c, '--help']).stdout)]) {
      for (const line of text.split('\n').filter((l) => l.startsWith('  --'))) expect(line, line).toMatch(/^  --\S+(?: \S+)?  +\S/);
    }
    expect(help.stdout).toMatch(/^  --access-log-format combined\|json +Apache combined/m);
    const fcgi = tsgi(['fastcgi', '--help']).stdout.split('\n').find((l) => l.startsWith('  --max-concurrent'))!;
    const uwsgi = tsgi(['uwsgi', '--help']).stdout.split('\n').find((l) => l.startsWith('  --max-concurrent'))!;
    expect(fcgi).toContain('FCGI_OVERLOADED');
    expect(uwsgi).not.toContain('FCGI');
    expect(uwsgi).toContain('closed unread, which the web server answers 502');
    expect(tsgi(['scgi', '--help']).stdout).toMatch(/^usage: tsgi scgi APP {6}SCGI server \(nginx scgi_pass, Apache mod_proxy_scgi, lighttpd mod_scgi\)\n[^]*  --max-concurrent N +requests in flight at once per worker; past it a request waits \(--queue-timeout\), and past the queue a new connection is closed unread/);
    const bare = tsgi([]);
    expect(bare.stdout).toBe('');
    expect(bare.stderr).toBe(help.stdout);
    expect(bare.status).toBe(2);
    const wrong = tsgi(['http', 'app.js', '--frobnicate']);
    expect(wrong.stderr).toBe('tsgi: unknown option --frobnicate\n(tsgi http --help lists the options)\n');
    expect(tsgi(['check', 'uwsgi', '--help']).stdout).toMatch(/^usage: tsgi check \[http\|fastcgi\|uwsgi\|scgi\] APP/);
  });

  it('usage errors are one line naming the problem, and exit 2', () => {
    const cases: [string[], RegExp][] = [
      [['http', 'app.js', '--socket', 'x.sock'], /--socket does not apply to tsgi http/],
      [['cgi', 'app.js', '--workers', '2'], /--workers does not apply to tsgi cgi/],
      [['uwsgi', 'app.js', '--no-multiplex', '--socket', 's'], /--no-multiplex does not apply to tsgi uwsgi/],
      [['scgi', 'app.js', '--no-multiplex', '--socket', 's'], /--no-multiplex does not apply to tsgi scgi/],
      [['scgi', 'app.js'], /give --socket PATH, --bind HOST:PORT or --port N/],
      [['check', 'scgi', 'app.js', '--reload'], /--reload does not apply to tsgi scgi/],
      [['fastcgi', 'app.js', '--frobnicate'], /unknown option --frobnicate/],
      [['fastcgi', 'app.js', '--workers', 'many'], /--workers many: expected a number of workers/],
      [['http', 'app.js', '--port', '70000'], /--port 70000: expected a port/],
      [['http', 'app.js', '--slow-log', '0'], /--slow-log 0: expected a number of seconds above 0/],
      [['fastcgi', 'app.js', '--max-memory', '0'], /--max-memory 0: expected a positive whole number/],
      [['fastcgi', 'app.js', '--max-memory', '1g'], /--max-memory 1g: expected a whole number/],
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

  it('a port in use, a port below 1024 or an unknown --user is one line naming the problem and what to do (a bad configuration: exit 2)', async () => {
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
      expect(r.status).toBe(2);
    }
    if (process.getuid?.() === 0) {
      // A port below 1024 as an unprivileged user: EACCES, said once, with the fix.
      const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, BIN, 'http', WORKER_APP, '--port', '81'], { encoding: 'utf8' });
      expect(r.stderr).toBe('tsgi: 127.0.0.1:81: permission denied; ports below 1024 need root (or CAP_NET_BIND_SERVICE): use a port of 1024 or more, or start as root with --user\n');
      expect(r.status).toBe(2);
    }
  });

  it('S5 the socket directory is created when missing, or refused with one line (exit 2)', async () => {
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
    expect(r.status).toBe(2);
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

  it('O7 --queue-timeout: a config key and an option, shown by tsgi check (default 5), checked as seconds', () => {
    const dir = tempDir('tsgi-config-queue-');
    const json = join(dir, 'tsgi.json');
    writeFileSync(json, JSON.stringify({ app: WORKER_APP, socket: join(dir, 'app.sock'), 'queue-timeout': 0.5 }));
    const fromFile = tsgi(['check', 'uwsgi', '--config', json]);
    expect(fromFile.stdout).toContain('queue-timeout: 0.5\n');
    expect(fromFile.status).toBe(0);
    expect(tsgi(['check', 'fastcgi', '--config', json, '--queue-timeout', '0']).stdout).toContain('queue-timeout: 0\n');
    expect(tsgi(['check', 'http', WORKER_APP]).stdout).toMatch(/queue-timeout: 5\b/);
    const bad = tsgi(['check', 'http', WORKER_APP, '--queue-timeout', 'soon']);
    expect(bad.stderr).toMatch(/^tsgi: --queue-timeout soon: expected a number of seconds/);
    expect(bad.status).toBe(2);
    writeFileSync(json, JSON.stringify({ app: WORKER_APP, 'queue-timeout': '5s' }));
    expect(tsgi(['check', 'http', '--config', json]).stderr).toMatch(/"queue-timeout": "5s" is not a number of seconds/);
  });

  it('G5 tsgi check scgi and a config file for tsgi scgi: the settings of an SCGI server', () => {
    const dir = tempDir('tsgi-config-scgi-');
    const json = join(dir, 'tsgi.json');
    writeFileSync(json, JSON.stringify({ app: WORKER_APP, workers: 2, socket: join(dir, 'run', 'app.sock'), 'max-concurrent': 64 }));
    const ok = tsgi(['check', 'scgi', '--config', json]);
    expect(ok.stdout).toMatch(/^command: tsgi scgi\n/);
    expect(ok.stdout).toContain('max-concurrent: 64\n');
    expect(ok.stdout).toContain(`socket: ${join(dir, 'run', 'app.sock')}\n`);
    expect(ok.stdout).toMatch(/tsgi check: OK\n$/);
    expect(ok.status).toBe(0);
    writeFileSync(json, JSON.stringify({ app: WORKER_APP, reload: true }));
    expect(tsgi(['scgi', '--config', json, '--port', '1']).stderr).toMatch(/"reload" does not apply to tsgi scgi/);
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

// P14: `tsgi check` and the start run one preflight (src/cli/preflight.ts): for each
// configuration below, both refuse it with the same one line and status 2, and the
// start leaves nothing behind (no socket, no directory, no spinning process).
describe('P14 tsgi check fails exactly where the start would', () => {
  const root = process.getuid?.() === 0;
  const asNobody = (args: string[]) => spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, BIN, ...args], { encoding: 'utf8', timeout: 20_000 });
  /** `tsgi check SERVER …` and `tsgi SERVER …`: the same refusal. */
  const bothRefuse = (server: string, args: string[], line: RegExp, run = tsgi): string => {
    const checked = run(['check', server, ...args]);
    const started = run([server, ...args]);
    expect(checked.stderr, `check ${args.join(' ')}`).toMatch(line);
    expect(checked.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(checked.status).toBe(2);
    expect(started.stderr, `start ${args.join(' ')}`).toBe(checked.stderr);
    expect(started.status).toBe(2);
    return checked.stderr;
  };

  it('P14 --user no-such-user: check and start refuse it alike', () => {
    bothRefuse('http', [WORKER_APP, '--port', '0', '--user', 'no-such-user-here'],
      root ? /^tsgi: user "no-such-user-here" does not exist\n$/ : /^tsgi: --user and --group need tsgi to be started as root/);
    bothRefuse('fastcgi', [WORKER_APP, '--port', '0', '--workers', '2', '--user', 'nobody', '--group', 'no-such-group-here'],
      root ? /^tsgi: group "no-such-group-here" does not exist\n$/ : /^tsgi: --user and --group need tsgi to be started as root/);
  });

  it.skipIf(!root)('P14 --user when not started as root: check and start refuse it alike', () => {
    bothRefuse('http', [WORKER_APP, '--port', '0', '--user', 'nobody'], /^tsgi: --user and --group need tsgi to be started as root \(it binds, then drops to them\)\n$/, asNobody);
  });

  it.skipIf(!root)('P14 a socket directory the user may not create: check and start refuse it alike, nothing created', () => {
    const dir = tempDir('tsgi-p14-ro-');
    chmodSync(dir, 0o755);
    const socket = join(dir, 'run', 'app.sock');
    bothRefuse('fastcgi', [WORKER_APP, '--socket', socket], /^tsgi: cannot create .*\/run for the socket .*: permission denied; create it owned by the user tsgi runs as/, asNobody);
    mkdirSync(join(dir, 'run'), { mode: 0o755 });
    bothRefuse('uwsgi', [WORKER_APP, '--socket', socket], /^tsgi: cannot create .*\/run for the socket .*: permission denied/, asNobody);
    expect(readdirSync(dir)).toEqual(['run']);
    expect(readdirSync(join(dir, 'run'))).toEqual([]);
  });

  it('P14 P12 what root refuses to write into (a link for the pid or a log, a directory others may write, a log the run user could not reopen): check and start alike', () => {
    if (!root) { console.warn('P14 P12 parity: not root, skipped'); return; }
    const dir = tempDir('tsgi-p14-p12-');
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'target'), 'keep');
    symlinkSync(join(dir, 'target'), join(dir, 'link'));
    bothRefuse('http', [WORKER_APP, '--port', '0', '--pid', join(dir, 'link')], /^tsgi: --pid: .*\/link is a symbolic link; /);
    bothRefuse('http', [WORKER_APP, '--port', '0', '--access-log', join(dir, 'link')], /^tsgi: --access-log: .*\/link is a symbolic link; /);
    mkdirSync(join(dir, 'open'), { mode: 0o777 });
    chmodSync(join(dir, 'open'), 0o777);
    bothRefuse('http', [WORKER_APP, '--port', '0', '--error-log', join(dir, 'open', 'e.log')], /^tsgi: --error-log: the directory .*\/open is writable by everyone .* and has no sticky bit/);
    // One process under --user reopens its log as that user: a root-only directory is refused.
    bothRefuse('http', [WORKER_APP, '--port', '0', '--user', 'nobody', '--group', 'nogroup', '--access-log', join(dir, 'a.log')], /^tsgi: --access-log .*\/a\.log: uid \d+, whom the app runs as, cannot create files in /);
    expect(readdirSync(dir).sort()).toEqual(['link', 'open', 'target']);
    expect(readdirSync(join(dir, 'open'))).toEqual([]);
  });

  it('P14 P13 --workers above --max-workers, or a --max-workers below 1: check and start refuse it alike', () => {
    bothRefuse('http', [WORKER_APP, '--port', '0', '--workers', '3', '--max-workers', '2'], /^tsgi: --workers 3 is more than --max-workers 2\n$/);
    bothRefuse('http', [WORKER_APP, '--port', '0', '--workers', '1', '--max-workers', '0'], /^tsgi: --max-workers 0: give at least 1\n$/);
  });

  it('P14 a socket or log path the start cannot create (under /proc, too long for a unix socket, a file in the way): one line, exit 2, nothing left', () => {
    const dir = tempDir('tsgi-p14-paths-');
    bothRefuse('fastcgi', [WORKER_APP, '--socket', '/proc/no-such-dir/app.sock'], /^tsgi: cannot create \/proc\/no-such-dir for the socket \/proc\/no-such-dir\/app\.sock: ENOENT\n$/);
    bothRefuse('http', [WORKER_APP, '--port', '0', '--access-log', '/proc/nope/a.log'], /^tsgi: --access-log: cannot create the directory \/proc\/nope \(ENOENT\)\n$/);
    const long = join(dir, `${'s'.repeat(120)}.sock`);
    bothRefuse('uwsgi', [WORKER_APP, '--socket', long], /^tsgi: --socket .*: \d+ bytes, longer than a unix socket path may be \(107 bytes here\); choose a shorter path\n$/);
    writeFileSync(join(dir, 'file'), '');
    bothRefuse('fastcgi', [WORKER_APP, '--socket', join(dir, 'file', 'app.sock')], /^tsgi: cannot create .*\/file for the socket .*: ENOTDIR\n$/);
    bothRefuse('fastcgi', [WORKER_APP, '--socket', join(dir, 'file')], /^tsgi: .*\/file exists and is not a socket; refusing to replace it\n$/);
    bothRefuse('http', [WORKER_APP, '--port', '0', '--pid', join(dir, 'no-dir', 'tsgi.pid')], /^tsgi: --pid .*\/no-dir\/tsgi\.pid: the directory .*\/no-dir does not exist; create it first\n$/);
    // --chown was checked only after the bind: the socket stayed behind.
    bothRefuse('fastcgi', [WORKER_APP, '--socket', join(dir, 'c.sock'), '--chown', 'no-such-user-here:nogroup'], /^tsgi: --chown no-such-user-here:nogroup: user "no-such-user-here" does not exist\n$/);
    expect(readdirSync(dir).sort()).toEqual(['file']);
  });

  it.skipIf(!root)('P14 an app the --user cannot read: check loads it as the start does, after the drop, and fails', () => {
    const dir = tempDir('tsgi-p14-app-');
    chmodSync(dir, 0o755);
    const app = join(dir, 'app.mjs');
    writeFileSync(app, "export default (e, start) => { start('200 OK', []); return []; };\n", { mode: 0o600 });
    expect(tsgi(['check', 'http', app, '--port', '0']).status).toBe(0); // root reads it
    const r = tsgi(['check', 'http', app, '--port', '0', '--user', 'nobody']);
    expect(r.stderr).toMatch(/cannot load app module .*app\.mjs: not readable by the user running tsgi \(uid 65534\)/);
    expect(r.status).toBe(1);
  });

  it('P14 reload in a tsgi http config checks; relative paths in a config file are taken from its directory', async () => {
    const dir = tempDir('tsgi-p14-config-');
    mkdirSync(join(dir, 'site'));
    writeFileSync(join(dir, 'site', 'app.mjs'), "export default (e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('site')]; };\n");
    const port = await freePort();
    const config = join(dir, 'tsgi.json');
    writeFileSync(config, JSON.stringify({ app: 'site/app.mjs', reload: true, port, pid: 'run.pid', 'access-log': 'logs/access.log' }));
    const elsewhere = tempDir('tsgi-p14-cwd-');
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: elsewhere, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 20_000 });
    for (const args of [['check', '--config', config], ['check', 'http', '--config', config]]) {
      const r = run(args);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('command: tsgi http\n');
      expect(r.stdout).toContain(`app: ${join(dir, 'site', 'app.mjs')} (loads)\n`);
      expect(r.stdout).toContain(`pid: ${join(dir, 'run.pid')}\n`);
      expect(r.stdout).toContain('reload: true\n');
      expect(r.status).toBe(0);
    }
    // Checked as another server, reload does not apply: named, exit 2.
    const asFcgi = run(['check', 'fastcgi', '--config', config]);
    expect(asFcgi.stderr).toMatch(/^tsgi: --config .*tsgi\.json: "reload" does not apply to tsgi fastcgi\n/);
    expect(asFcgi.status).toBe(2);
    writeFileSync(join(dir, 'both.json'), JSON.stringify({ app: 'site/app.mjs', reload: true, socket: 'app.sock' }));
    const both = run(['check', '--config', join(dir, 'both.json')]);
    expect(both.stderr).toMatch(/^tsgi: --socket does not apply to tsgi http\n/);
    expect(both.status).toBe(2);
    // The start, from the same other directory, finds the app and writes the pid and log beside the config.
    const t = startTsgi(['http', '--config', config]);
    await t.waitLog(/generation 1\) ready/, 'tsgi');
    expect(await httpGet(port, '/')).toEqual({ status: 200, text: 'site' });
    expect(existsSync(join(dir, 'run.pid'))).toBe(true);
    await waitFor(() => existsSync(join(dir, 'logs', 'access.log')), 'the access log beside the config');
    expect(await t.stop()).toBe(0);
  });
});

// P6 --request-timeout over a real process: the request that timed out is logged (method,
// path, age) and stops counting as in flight, so a SIGTERM right after does not wait out
// --graceful-timeout (30 s here) for an app that ignores tsgi.abort.
describe('P6 --request-timeout is logged, and a stop does not wait for the request it answered', () => {
  const IGNORES_ABORT = "export default async (e, start) => { await new Promise((r) => setTimeout(r, 120_000)); start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('late')]; };\n";
  const WARNING = /warn: GET \/slow\?n=1: still running after \d+\.\d s \(--request-timeout 0\.5\): answered 504, tsgi\.abort fired$/;
  /** SIGTERM, then: did tsgi exit (0) within the test's own 10 s, far inside its 30 s --graceful-timeout? */
  const stopsPromptly = async (t: ReturnType<typeof startTsgi>): Promise<number | null | 'still running'> => {
    t.child.kill('SIGTERM');
    const waited = new Promise<'still running'>((r) => setTimeout(() => r('still running'), 10_000).unref());
    return Promise.race([t.exited, waited]);
  };
  const options = ['--request-timeout', '0.5', '--graceful-timeout', '30'];

  it('P6 tsgi http (one process)', async () => {
    const dir = tempDir('tsgi-p6-http-');
    writeFileSync(join(dir, 'slow.mjs'), IGNORES_ABORT);
    const port = await freePort();
    const t = startTsgi(['http', join(dir, 'slow.mjs'), '--port', String(port), ...options]);
    await t.waitLog(/serving/, 'tsgi');
    const r = await httpGet(port, '/slow?n=1');
    expect(r.status).toBe(504);
    await t.waitLog(WARNING, 'the timeout warning');
    expect(await stopsPromptly(t)).toBe(0);
  });

  it('P6 tsgi fastcgi --workers 1, the web server keeping its connection open', async () => {
    const dir = tempDir('tsgi-p6-fcgi-');
    writeFileSync(join(dir, 'slow.mjs'), IGNORES_ABORT);
    const socket = join(dir, 'app.sock');
    const t = startTsgi(['fastcgi', join(dir, 'slow.mjs'), '--socket', socket, '--workers', '1', ...options]);
    await t.waitLog(/generation 1\) ready/, 'the worker');
    const c = await FcgiClient.connect(socket);
    const reply = await c.request(1, { ...GET, REQUEST_URI: '/slow?n=1', SCRIPT_NAME: '/slow', QUERY_STRING: 'n=1' }, { keep: true });
    expect(reply.stdout.toString('latin1')).toMatch(/^Status: 504 Gateway Timeout\r\n/);
    await t.waitLog(WARNING, 'the timeout warning');
    expect(await stopsPromptly(t)).toBe(0);
    c.close();
  });

  it('P6 tsgi uwsgi (one process)', async () => {
    const dir = tempDir('tsgi-p6-uwsgi-');
    writeFileSync(join(dir, 'slow.mjs'), IGNORES_ABORT);
    const port = await freePort();
    const t = startTsgi(['uwsgi', join(dir, 'slow.mjs'), '--port', String(port), ...options]);
    await t.waitLog(/serving/, 'tsgi');
    const reply = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
      s.on('end', () => resolve(got));
      s.on('error', reject);
      s.write(encodePacket([['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/slow?n=1'], ['PATH_INFO', '/slow'], ['QUERY_STRING', 'n=1'], ['SERVER_PROTOCOL', 'HTTP/1.1'], ['SERVER_NAME', 'x'], ['SERVER_PORT', '80']]));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    await t.waitLog(WARNING, 'the timeout warning');
    expect(await stopsPromptly(t)).toBe(0);
  });

  it('G5 P6 tsgi scgi --workers 1', async () => {
    const dir = tempDir('tsgi-p6-scgi-');
    writeFileSync(join(dir, 'slow.mjs'), IGNORES_ABORT);
    const port = await freePort();
    const t = startTsgi(['scgi', join(dir, 'slow.mjs'), '--bind', `127.0.0.1:${port}`, '--workers', '1', ...options]);
    await t.waitLog(/generation 1\) ready/, 'the worker');
    const reply = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
      s.on('end', () => resolve(got));
      s.on('error', reject);
      s.write(encodeHeader([['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/slow?n=1'], ['PATH_INFO', '/slow'], ['QUERY_STRING', 'n=1'], ['SERVER_PROTOCOL', 'HTTP/1.1'], ['SERVER_NAME', 'x'], ['SERVER_PORT', '80']]));
    });
    expect(reply).toMatch(/^Status: 504 Gateway Timeout\r\n/);
    await t.waitLog(WARNING, 'the timeout warning');
    expect(await stopsPromptly(t)).toBe(0);
  });
});

// --reload (development) over a real process. An editor's save and `sed -i` write a new file
// and rename it over the old one (a new inode): every such save, twice in a row, at the app's
// top level and in a subdirectory (one made after the start too), starts a new generation.
describe('tsgi http --reload sees atomic saves', () => {
  /** What `sed -i` does: the new content in a temp file beside it, renamed over the old one. */
  const saveAtomically = (file: string, text: string): void => {
    const tmp = join(dirname(file), `sed${Math.random().toString(36).slice(2, 8)}`);
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  };
  const serves = async (port: number, want: string): Promise<string> => {
    let last = '';
    await waitFor(async () => { last = (await httpGet(port, '/')).text; return last === want; }, `the app to serve ${want}`);
    return last;
  };

  it('a file renamed over, twice in a row, at the top and in a subdirectory, and in a directory made after the start', async () => {
    const dir = tempDir('tsgi-reload-atomic-');
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'lib', 'word.mjs'), "export const word = 'one';\n");
    const app = (greeting: string): string => `import { word } from './lib/word.mjs';\nexport default (e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('${greeting} ' + word)]; };\n`;
    writeFileSync(join(dir, 'app.mjs'), app('hello'));
    const port = await freePort();
    const t = startTsgi(['http', join(dir, 'app.mjs'), '--port', String(port), '--reload']);
    await t.waitLog(/generation 1\) ready/, 'the worker');
    expect(await serves(port, 'hello one')).toBe('hello one');
    saveAtomically(join(dir, 'app.mjs'), app('hi'));
    expect(await serves(port, 'hi one')).toBe('hi one');
    saveAtomically(join(dir, 'app.mjs'), app('hey'));
    expect(await serves(port, 'hey one')).toBe('hey one');
    saveAtomically(join(dir, 'lib', 'word.mjs'), "export const word = 'two';\n");
    expect(await serves(port, 'hey two')).toBe('hey two');
    saveAtomically(join(dir, 'lib', 'word.mjs'), "export const word = 'three';\n");
    expect(await serves(port, 'hey three')).toBe('hey three');
    // A directory made after the start is watched too, its files saved atomically as well.
    mkdirSync(join(dir, 'later'));
    writeFileSync(join(dir, 'later', 'word.mjs'), "export const word = 'later';\n");
    saveAtomically(join(dir, 'lib', 'word.mjs'), "export { word } from '../later/word.mjs';\n");
    expect(await serves(port, 'hey later')).toBe('hey later');
    saveAtomically(join(dir, 'later', 'word.mjs'), "export const word = 'last';\n");
    expect(await serves(port, 'hey last')).toBe('hey last');
    saveAtomically(join(dir, 'later', 'word.mjs'), "export const word = 'final';\n");
    expect(await serves(port, 'hey final')).toBe('hey final');
    expect(await t.stop()).toBe(0);
  });
});
