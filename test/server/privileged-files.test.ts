// Files tsgi makes as root before it drops privileges (P12, P9, P8): the pid
// file, the logs and the unix socket, tried as an attacker who may write in
// the run directory would try them, and as an operator rotating logs under
// --user. Real processes started as root; every check is made from outside.
// Root only: see root-helpers.ts.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, waitFor, which } from '../integration/servers.js';
import { WORKER_APP, httpGet, startTsgi, stopAll } from '../integration/tsgi-process.js';
import { appPids, cleanDirs, connectAsNobody, NOBODY, requireRoot, tempDir, tsgi } from './root-helpers.js';

const asRoot = requireRoot('test/server/privileged-files.test.ts');
afterEach(async () => {
  await stopAll();
  cleanDirs();
});

describe.skipIf(!asRoot)('P12 started as root: files are not opened through what others planted', () => {
  /** A run directory the run user owns (it may plant anything there), a root-only victim file beside it. */
  const setup = (): { run: string; victim: string } => {
    const dir = tempDir();
    const run = join(dir, 'run');
    mkdirSync(run, { mode: 0o755 });
    chownSync(run, NOBODY, NOBODY);
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'root only\n', { mode: 0o600 });
    return { run, victim };
  };
  const OPTIONS = ['--pid', '--access-log', '--error-log'];

  it('P12 a symbolic link, a FIFO or a hard link in place of the pid or a log file is refused in one line (exit 2), the file it points at untouched', () => {
    for (const workers of [0, 1]) {
      const extra = workers ? ['--workers', String(workers)] : [];
      for (const option of OPTIONS) {
        const { run, victim } = setup();
        const planted = join(run, 'planted');
        const start = (): ReturnType<typeof tsgi> => tsgi(['fastcgi', WORKER_APP, '--socket', join(run, 'app.sock'), '--user', 'nobody', option, planted, ...extra]);
        symlinkSync(victim, planted);
        let r = start();
        expect(r.stderr).toBe(`tsgi: ${option}: ${planted} is a symbolic link; tsgi, as root, opens files only by their own path (give the real path, or - for standard output)\n`);
        expect(r.status).toBe(2);
        rmSync(planted);
        // A FIFO: never waited on (without O_NONBLOCK the open would hang for ever).
        expect(spawnSync('mkfifo', [planted]).status).toBe(0);
        r = start();
        expect(r.error).toBeUndefined();
        expect(r.stderr).toMatch(new RegExp(`^tsgi: ${option}.*: ${planted} is not a plain file( \\(a FIFO or a socket\\))?`));
        expect(r.status).toBe(2);
        rmSync(planted);
        linkSync(victim, planted);
        r = start();
        expect(r.stderr).toMatch(new RegExp(`^tsgi: ${option}.*: ${planted} has 2 names \\(hard links\\), so it may be another file; refusing to write into it`));
        expect(r.status).toBe(2);
        expect(readFileSync(victim, 'utf8')).toBe('root only\n');
        expect(statSync(victim).mode & 0o7777).toBe(0o600);
        expect(statSync(victim).uid).toBe(0);
        expect(existsSync(join(run, 'app.sock'))).toBe(false);
      }
    }
  });

  it('P12 a file another user owns is refused; the run user\'s own log file is used', async () => {
    const { run } = setup();
    const other = join(run, 'other');
    writeFileSync(other, '');
    chownSync(other, 33, 33); // www-data: neither root nor the run user
    for (const option of OPTIONS) {
      const r = tsgi(['fastcgi', WORKER_APP, '--socket', join(run, 'app.sock'), '--user', 'nobody', option, other]);
      expect(r.stderr).toMatch(new RegExp(`^tsgi: ${option}.*: ${other} belongs to uid 33, neither root nor the user the app runs as; refusing to write into it`));
      expect(r.status).toBe(2);
    }
    const mine = join(run, 'access.log');
    writeFileSync(mine, 'before\n');
    chownSync(mine, NOBODY, NOBODY);
    const port = await freePort();
    const t = startTsgi(['http', WORKER_APP, '--port', String(port), '--user', 'nobody', '--access-log', mine]);
    await t.waitLog(/serving/, 'tsgi');
    await httpGet(port, '/mine');
    await waitFor(() => readFileSync(mine, 'utf8').includes('"GET /mine HTTP/1.1" 200'), 'the access line');
    expect(readFileSync(mine, 'utf8')).toMatch(/^before\n/);
  });

  it('P12 a directory its group or everyone may write without the sticky bit is refused for the pid, the logs and the socket; with the sticky bit it is used', async () => {
    const dir = tempDir();
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    for (const [mode, who] of [[0o775, 'its group'], [0o777, 'everyone']] as const) {
      chmodSync(shared, mode);
      for (const [option, file] of [['--pid', 'tsgi.pid'], ['--access-log', 'a.log'], ['--error-log', 'e.log'], ['--socket', 'app.sock']] as const) {
        const path = join(shared, file);
        const args = option === '--socket' ? ['--socket', path] : ['--socket', join(dir, 'app.sock'), option, path];
        const r = tsgi(['fastcgi', WORKER_APP, ...args]);
        expect(r.stderr).toBe(`tsgi: ${option}${option === '--socket' ? ` ${path}` : ''}: the directory ${shared} is writable by ${who} (mode ${mode.toString(8)}) and has no sticky bit, ` +
          'so another user could put a link there where tsgi, as root, writes; make it 755 (or 1777, as /tmp)\n');
        expect(r.status).toBe(2);
        expect(readdirSync(shared)).toEqual([]);
      }
    }
    chmodSync(shared, 0o1777);
    const t = startTsgi(['fastcgi', WORKER_APP, '--socket', join(shared, 'app.sock'), '--pid', join(shared, 'tsgi.pid'), '--access-log', join(shared, 'a.log')]);
    await t.waitLog(/serving/, 'tsgi');
    expect(readFileSync(join(shared, 'tsgi.pid'), 'utf8')).toBe(`${t.child.pid}\n`);
    expect(statSync(join(shared, 'tsgi.pid')).mode & 0o777).toBe(0o644);
    expect(await t.stop()).toBe(0);
    expect(existsSync(join(shared, 'tsgi.pid'))).toBe(false);
  });
});

describe.skipIf(!asRoot)('P12 the directories above a file root writes', () => {
  it('P12 a directory on the way that the run user owns is refused (start and check alike): else the app swaps it for a link and SIGUSR1 hands a root-only file to it', async () => {
    // The exploit as found: /srv/app is the app's own (its user's), /srv/app/logs is root's. The app renames
    // logs away and puts a link to another directory of root's in its place; the master, still root,
    // reopened "logs/error.log" through the link on SIGUSR1 and gave that root-only file to the run user.
    const dir = tempDir();
    const app = join(dir, 'app');
    const logs = join(app, 'logs');
    const victimDir = join(dir, 'victim');
    mkdirSync(logs, { recursive: true, mode: 0o755 });
    mkdirSync(victimDir, { mode: 0o755 });
    chownSync(app, NOBODY, NOBODY);
    const victim = join(victimDir, 'error.log');
    writeFileSync(victim, 'root only\n', { mode: 0o600 });
    const port = await freePort();
    const args = ['http', WORKER_APP, '--port', String(port), '--user', 'nobody', '--group', 'nogroup', '--workers', '2', '--error-log', join(logs, 'error.log')];
    const t = startTsgi(args);
    const code = await Promise.race([
      new Promise<number | null>((r) => t.child.once('exit', r)),
      waitFor(async () => (await httpGet(port, '/up')).status === 200, 'tsgi to serve or exit').then(() => 'serving' as const),
    ]);
    if (code === 'serving') {
      // Started (the hole): play the app's part, as the run user, then the rotation's signal.
      const swap = spawnSync('sh', ['-c', `mv ${logs} ${logs}.old && ln -s ${victimDir} ${logs}`], { uid: NOBODY, gid: NOBODY });
      expect(swap.status).toBe(0);
      process.kill(t.child.pid!, 'SIGUSR1');
      await waitFor(() => readFileSync(join(`${logs}.old`, 'error.log'), 'utf8').includes('SIGUSR1') || statSync(victim).uid !== 0, 'the reopen');
    }
    expect({ uid: statSync(victim).uid, mode: statSync(victim).mode & 0o777 }).toEqual({ uid: 0, mode: 0o600 });
    expect(code).toBe(2);
    const refusal = `tsgi: --error-log: ${app}, on the way to ${logs}, belongs to uid ${NOBODY}, who could put a link to another directory in the place of the one below it, ` +
      "where tsgi, as root, writes; use a path whose directories are all root's and 755\n";
    expect(t.log()).toBe(refusal);
    const check = tsgi(['check', ...args]);
    expect([check.status, check.stderr]).toEqual([2, refusal]);
  });

  it('P12 a directory above the log\'s that its group may write (Ubuntu\'s /var/log, 775 root:syslog) is used unless the app\'s user is in that group', () => {
    const dir = tempDir();
    const varlog = join(dir, 'var-log');
    const logs = join(varlog, 'tsgi');
    mkdirSync(logs, { recursive: true, mode: 0o755 });
    chownSync(varlog, 0, 4); // root:adm, as root:syslog on Ubuntu: a group nobody is not in
    chmodSync(varlog, 0o775);
    const args = ['http', WORKER_APP, '--port', '0', '--user', 'nobody', '--group', 'nogroup', '--workers', '1', '--access-log', join(logs, 'access.log')];
    const ok = tsgi(['check', ...args]);
    expect([ok.status, ok.stderr]).toEqual([0, '']);
    // The app's own group may write there: it could swap tsgi/ for a link.
    chownSync(varlog, 0, 65534);
    const refused = tsgi(['check', ...args]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe(`tsgi: --access-log: ${varlog}, on the way to ${logs}, is writable by its group, which the app's user is in (mode 775), ` +
      "who could put a link to another directory in the place of the one below it, where tsgi, as root, writes; use a path whose directories are all root's and 755\n");
  });

  it('P14 P12 tsgi check refuses a socket or log directory as the start does: one others may write, or one it would make under such a directory or another user\'s', () => {
    const dir = tempDir();
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const theirs = join(dir, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, NOBODY, NOBODY);
    const sock = join(dir, 'app.sock');
    for (const args of [['--socket', join(open, 'app.sock')], ['--socket', join(open, 'sub', 'app.sock')], ['--socket', sock, '--error-log', join(open, 'sub', 'e.log')],
      ['--socket', join(theirs, 'sub', 'app.sock')], ['--socket', sock, '--access-log', join(theirs, 'sub', 'a.log')]]) {
      const start = tsgi(['fastcgi', WORKER_APP, ...args]);
      const check = tsgi(['check', 'fastcgi', WORKER_APP, ...args]);
      expect(start.status, args.join(' ')).toBe(2);
      expect(start.stderr).toMatch(/^tsgi: --(socket|error-log|access-log).*(writable by everyone|belongs to uid 65534)/);
      expect([check.status, check.stderr], args.join(' ')).toEqual([2, start.stderr]);
      expect([readdirSync(open), readdirSync(theirs)]).toEqual([[], []]);
    }
  });

  it('P12 a symbolic link on the way is followed only when root made it: one another user left in /tmp is refused', () => {
    const dir = tempDir();
    const logs = join(dir, 'logs');
    mkdirSync(logs, { mode: 0o755 });
    const sticky = join(dir, 'sticky');
    mkdirSync(sticky, { mode: 0o755 });
    chmodSync(sticky, 0o1777);
    const link = join(sticky, 'logs');
    symlinkSync(logs, link);
    lchownSync(link, NOBODY, NOBODY);
    const r = tsgi(['fastcgi', WORKER_APP, '--socket', join(dir, 'app.sock'), '--pid', join(link, 'tsgi.pid')]);
    expect([r.status, r.stderr]).toEqual([2, `tsgi: --pid: ${link}, on the way to ${link}, is a symbolic link of uid ${NOBODY}'s; tsgi, as root, follows only root's links\n`]);
    expect(readdirSync(logs)).toEqual([]);
    // Root's own link there is followed as before.
    rmSync(link);
    symlinkSync(logs, link);
    const ok = tsgi(['check', 'fastcgi', WORKER_APP, '--socket', join(dir, 'app.sock'), '--pid', join(link, 'tsgi.pid')]);
    expect(ok.status, ok.stderr).toBe(0);
  });
});

describe.skipIf(!asRoot)('P12 P8 log rotation under --user', () => {
  it('P12 P8 mv + SIGUSR1 reopens --access-log and --error-log after the drop: the new file gets the next line and belongs to the run user (single process and --workers 2)', async () => {
    for (const workers of [0, 2]) {
      for (const option of ['--access-log', '--error-log']) {
        const dir = tempDir();
        const logs = join(dir, 'logs');
        mkdirSync(logs, { mode: 0o755 });
        // With --workers the master, still root, creates the new file: the directory stays root's.
        // A single process has only the run user left to do it: the directory is that user's.
        if (workers === 0) chownSync(logs, NOBODY, NOBODY);
        const file = join(logs, 'tsgi.log');
        const port = await freePort();
        const t = startTsgi(['http', WORKER_APP, '--port', String(port), '--user', 'nobody', '--group', 'nogroup', option, file, ...(workers ? ['--workers', String(workers)] : [])]);
        // (With --error-log the start's lines go to the file: ask the port.)
        await waitFor(async () => (await httpGet(port, '/up')).status === 200, 'tsgi to serve');
        // The access log's line, or the info line tsgi http writes per request to the error log without one.
        const line = (path: string): RegExp => new RegExp(option === '--access-log' ? `"GET ${path} HTTP/1.1" 200 ` : `info: 127\\.0\\.0\\.1 "GET ${path} HTTP/1\\.1" 200 `);
        await httpGet(port, '/before');
        await waitFor(() => line('/before').test(readFileSync(file, 'utf8')), 'the first line');
        renameSync(file, `${file}.1`);
        process.kill(t.child.pid!, 'SIGUSR1');
        await waitFor(() => existsSync(file), 'the new file');
        // Each worker reopens on its own signal: ask until the one that answers has.
        let n = 0;
        await waitFor(async () => {
          await httpGet(port, `/after${++n}`);
          return line('/after\\d+').test(readFileSync(file, 'utf8'));
        }, 'a line in the new file');
        const st = statSync(file);
        expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o640 });
        expect(readFileSync(`${file}.1`, 'utf8')).toMatch(line('/before'));
        expect(readFileSync(file, 'utf8')).not.toMatch(line('/before'));
        expect(readFileSync(file, 'utf8') + t.log()).not.toContain('cannot reopen');
        expect(await t.stop()).toBe(0);
      }
    }
  });

  it('P12 a single process whose run user could not reopen its log is refused at the start (one line, exit 2)', () => {
    const dir = tempDir();
    const logs = join(dir, 'logs');
    mkdirSync(logs, { mode: 0o755 });
    for (const option of ['--access-log', '--error-log']) {
      const r = tsgi(['fastcgi', WORKER_APP, '--socket', join(dir, 'app.sock'), '--user', 'nobody', option, join(logs, 'x.log')]);
      expect(r.stderr).toBe(`tsgi: ${option} ${join(logs, 'x.log')}: uid ${NOBODY}, whom the app runs as, cannot create files in ${logs}, so it could not reopen the log after a rotation (SIGUSR1); ` +
        'give that directory to that user, or run with --workers (the master, which stays root, reopens the logs)\n');
      expect(r.status).toBe(2);
      expect(readdirSync(logs)).toEqual([]);
      expect(existsSync(join(dir, 'app.sock'))).toBe(false);
    }
  });
});

describe.skipIf(!asRoot)('P12 P9 --chmod: the socket\'s mode from the first instant', () => {
  // strace holds tsgi for a second after its bind(2) and its listen(2): the moments between those and a
  // later chmod, when another user could connect, become wide enough to be seen every time. Without
  // strace the same property is asserted, on whatever instant the watcher catches first.
  const strace = which('strace');
  if (strace === undefined) {
    if (process.env.TSGI_REQUIRE_SERVERS === '1') throw new Error('strace is not installed (apt-get install strace), and TSGI_REQUIRE_SERVERS=1 forbids running without it');
    process.stderr.write('\n!!! privileged-files.test.ts: strace is not installed: the --chmod race is tried without widening it\n\n');
  }
  const hold = strace === undefined ? '' : `${strace} -f -qq -o /dev/null -e trace=bind,listen -e inject=bind,listen:delay_exit=1000000 `;

  it('P12 P9 under umask 000, the socket is never more open than --chmod 660 and nobody never connects; under umask 077, --chmod 666 from the first instant too (single process and --workers)', async () => {
    for (const [umask, chmod] of [['000', '660'], ['077', '666']] as const) {
      for (const workers of [0, 1]) {
        const dir = tempDir();
        const socket = join(dir, 'app.sock');
        let first: number | undefined;
        const see = (): void => {
          if (first !== undefined) return;
          try { first = lstatSync(socket).mode & 0o7777; } catch { /* not yet */ }
        };
        const watcher = watch(dir, see);
        const t = startTsgi(['fastcgi', WORKER_APP, '--socket', socket, '--chmod', chmod, ...(workers ? ['--workers', String(workers)] : [])],
          { shell: `umask ${umask}; exec ${hold}"$@"` });
        await waitFor(() => { see(); return first !== undefined; }, 'the socket file');
        // At first sight (held after its bind, or its listen): another user is refused, not merely not answered.
        const early = connectAsNobody(socket);
        await appPids(t, workers);
        watcher.close();
        const late = connectAsNobody(socket);
        const what = `umask ${umask}, --chmod ${chmod}, ${workers} workers`;
        expect(first!.toString(8), what).toBe(chmod);
        if (chmod === '660') expect(await Promise.all([early, late]), what).toEqual(['EACCES', 'EACCES']);
        else expect(await late, what).toBe('connected');
        expect((lstatSync(socket).mode & 0o7777).toString(8), what).toBe(chmod);
        // tsgi itself is strace's child: SIGTERM goes to it (strace then exits with its status).
        process.kill(Number(/(?:master pid|, pid) (\d+)/.exec(t.log())![1]), 'SIGTERM');
        expect(await t.exited, what).toBe(0);
        expect(existsSync(socket), what).toBe(false);
      }
    }
  });
});

describe('P9 socket and log paths that cannot be', () => {
  it('P9 a socket path longer than a unix socket allows, or under /proc, is one line, exit 2, nothing left behind; 107 bytes still bind', async () => {
    const dir = tempDir();
    const long = (bytes: number): string => join(dir, 'sub', `${'s'.repeat(bytes - join(dir, 'sub').length - 1 - 5)}.sock`);
    for (const extra of [[], ['--workers', '1']]) {
      const path = long(108);
      expect(Buffer.byteLength(path)).toBe(108);
      const r = tsgi(['fastcgi', WORKER_APP, '--socket', path, ...extra]);
      expect(r.stderr).toBe(`tsgi: --socket ${path}: 108 bytes, longer than a unix socket path may be (107 bytes here); choose a shorter path\n`);
      expect(r.status).toBe(2);
      expect(readdirSync(dir)).toEqual([]);
      for (const args of [['--socket', '/proc/x/app.sock'], ['--socket', join(dir, 'app.sock'), '--access-log', '/proc/nope/a.log'], ['--socket', join(dir, 'app.sock'), '--error-log', '/proc/nope/e.log']]) {
        // Node's recursive mkdir loops for ever here: the timeout would end it, with r.error set.
        const p = tsgi(['fastcgi', WORKER_APP, ...args, ...extra]);
        expect(p.error).toBeUndefined();
        expect(p.stderr).toMatch(args[0] === '--socket' && args.length === 2 ? /^tsgi: cannot create \/proc\/x for the socket \/proc\/x\/app\.sock: ENOENT\n$/ : /^tsgi: --(access|error)-log: cannot create the directory \/proc\/nope \(ENOENT\)\n$/);
        expect(p.status).toBe(2);
        expect(readdirSync(dir)).toEqual([]);
      }
    }
    const path = long(107);
    const t = startTsgi(['fastcgi', WORKER_APP, '--socket', path]);
    await t.waitLog(/serving/, 'tsgi');
    expect(lstatSync(path).isSocket()).toBe(true);
    expect(await t.stop()).toBe(0);
    expect(existsSync(path)).toBe(false);
  });
});

