// The privilege drop (P12), tried as an operator and as an attacker would:
// tsgi runs as a real process started as root with --user/--group, and the
// ids are read from outside, in /proc/PID/status (Uid, Gid, Groups), for the
// single process and for each worker. Root only: see root-helpers.ts.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../integration/servers.js';
import { WORKER_APP, httpGet, startTsgi, stopAll } from '../integration/tsgi-process.js';
import { appPids, cleanDirs, ids, NOBODY, requireRoot, tempDir, tsgi, unnamedId } from './root-helpers.js';

const asRoot = requireRoot('test/server/privileges.test.ts');
afterEach(async () => {
  await stopAll();
  cleanDirs();
});

describe.skipIf(!asRoot)('P12 started as root: the drop', () => {
  const users: string[] = [];
  const groups: string[] = [];
  afterAll(() => {
    for (const u of users) spawnSync('userdel', [u]);
    for (const g of groups) spawnSync('groupdel', [g]);
  });
  /** A throw-away user (no home, nogroup as its primary group) listed in `extra` groups. */
  const addUser = (name: string, extra: string[]): void => {
    spawnSync('userdel', [name]);
    const r = spawnSync('useradd', ['-M', '-N', '-g', 'nogroup', '-s', '/usr/sbin/nologin', ...(extra.length ? ['-G', extra.join(',')] : []), name], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    users.push(name);
  };

  it('P12 a uid without a passwd entry is refused without --group (one line, exit 2, nothing made); with it no id is 0, single process and --workers', async () => {
    const id = unnamedId();
    for (const workers of [0, 2]) {
      const dir = tempDir();
      const extra = workers ? ['--workers', String(workers)] : [];
      const socket = join(dir, 'app.sock');
      const r = tsgi(['fastcgi', WORKER_APP, '--socket', socket, '--user', String(id), '--pid', join(dir, 'tsgi.pid'), '--access-log', join(dir, 'a.log'), ...extra]);
      expect(r.stderr).toBe(`tsgi: --user ${id}: uid ${id} has no passwd entry, so no group of its own (the app would keep root's group); give --group too, e.g. --group nogroup\n`);
      expect(r.status).toBe(2);
      expect(readdirSync(dir)).toEqual([]);

      const port = await freePort();
      const t = startTsgi(['http', WORKER_APP, '--port', String(port), '--user', String(id), '--group', String(id), ...extra]);
      const pids = await appPids(t, workers);
      expect(pids.length).toBe(workers || 1);
      for (const pid of pids) expect(ids(pid)).toEqual({ uid: [id, id, id, id], gid: [id, id, id, id], groups: [id] });
      // The master, which never runs the app, keeps root to bind, reload and reopen logs.
      if (workers) expect(ids(t.child.pid!).uid).toEqual([0, 0, 0, 0]);
      expect((await httpGet(port, '/')).text).toMatch(/^pid \d+\n$/);
      expect(await t.stop()).toBe(0);
    }
  });

  it('P12 a named user gets its own supplementary groups and no other (initgroups); root ids and root\'s group are refused', async () => {
    const group = 'tsgip12g';
    spawnSync('groupdel', [group]);
    expect(spawnSync('groupadd', [group]).status).toBe(0);
    groups.push(group);
    const gid = Number(spawnSync('getent', ['group', group], { encoding: 'utf8' }).stdout.split(':')[2]);
    addUser('tsgip12a', [group]);
    addUser('tsgip12r', ['root']);
    const uid = Number(spawnSync('id', ['-u', 'tsgip12a'], { encoding: 'utf8' }).stdout);
    for (const workers of [0, 2]) {
      const extra = workers ? ['--workers', String(workers)] : [];
      const port = await freePort();
      const t = startTsgi(['http', WORKER_APP, '--port', String(port), '--user', 'tsgip12a', ...extra]);
      for (const pid of await appPids(t, workers)) {
        expect(ids(pid)).toEqual({ uid: [uid, uid, uid, uid], gid: [NOBODY, NOBODY, NOBODY, NOBODY], groups: [gid, NOBODY].sort((a, b) => a - b) });
      }
      await t.stop();
      // --group replaces the primary group; the supplementary ones stay the user's.
      const u = startTsgi(['http', WORKER_APP, '--port', String(port), '--user', 'tsgip12a', '--group', 'www-data', ...extra]);
      for (const pid of await appPids(u, workers)) expect(ids(pid)).toEqual({ uid: [uid, uid, uid, uid], gid: [33, 33, 33, 33], groups: [33, gid].sort((a, b) => a - b) });
      await u.stop();
      const refused: [string[], string][] = [
        [['--user', 'tsgip12r'], "tsgi: --user tsgip12r is a member of root's group (gid 0) in the group database; remove it from that group, or give another user\n"],
        [['--user', 'root'], 'tsgi: --user root is root (uid 0): give an unprivileged user\n'],
        [['--user', '0', '--group', 'nogroup'], 'tsgi: --user 0 is root (uid 0): give an unprivileged user\n'],
        [['--user', 'nobody', '--group', 'root'], "tsgi: --group root is root's group (gid 0): give an unprivileged group\n"],
        [['--group', 'nogroup'], 'tsgi: --group nogroup without --user would leave the app running as root; give --user too\n'],
        [['--user', 'no-such-user-here'], 'tsgi: user "no-such-user-here" does not exist\n'],
      ];
      for (const [args, message] of refused) {
        const r = tsgi(['http', WORKER_APP, '--port', String(port), ...args, ...extra]);
        expect(r.stderr, args.join(' ')).toBe(message);
        expect(r.status, args.join(' ')).toBe(2);
      }
    }
  });
});
