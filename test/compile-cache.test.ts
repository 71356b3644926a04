// The compile cache of lib/load.cjs under `tsgi cgi` (docs/packaging.md, "The
// loader and the compile cache"): a per-user directory that is used only when
// it is safely this user's, and a changed app is never answered from the
// cache. Real child processes; the app answers with the directory Node caches
// in (module.getCompileCacheDir(), 'undefined' when the cache is off).
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = new URL('../bin/tsgi.cjs', import.meta.url).pathname;
const uid = process.getuid?.() ?? -1;
const cgiEnv = { PATH: process.env.PATH ?? '', REQUEST_METHOD: 'GET', SERVER_NAME: 'localhost', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' };

/** An app answering `word` and the compile cache's directory. */
function app(dir: string, word: string): string {
  const file = join(dir, 'app.cjs');
  writeFileSync(file, `module.exports = (e, start) => { start('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from('${word} ' + require('module').getCompileCacheDir() + '\\n')]; };\n`);
  return file;
}

function cgi(file: string, env: Record<string, string>): { body: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'cgi', file], { env: { ...cgiEnv, ...env }, encoding: 'latin1' });
  expect(r.stdout).toMatch(/^Status: 200 OK\r\n/);
  return { body: r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4), stderr: r.stderr };
}

/** A temp dir to act as TMPDIR (0700, so that only the case's own entries matter). */
const fresh = () => mkdtempSync(join(tmpdir(), 'tsgi-cc-'));

describe.skipIf(uid < 0)('compile cache directory', () => {
  it('a 0700 per-user directory in TMPDIR holds the cache; an app changed in place (same size, same mtime) is answered changed', () => {
    const tmp = fresh();
    const own = join(tmp, `tsgi-compile-cache-${uid}`);
    const file = app(tmp, 'one');
    const first = cgi(file, { TMPDIR: tmp });
    expect(first.stderr).toBe('');
    expect(first.body.startsWith(`one ${own}/`)).toBe(true);
    const st = lstatSync(own);
    expect(st.isDirectory() && st.uid === uid && (st.mode & 0o777) === 0o700).toBe(true);
    expect(readdirSync(own).length).toBeGreaterThan(0);
    expect(cgi(file, { TMPDIR: tmp }).body.startsWith('one ')).toBe(true); // answered with a warm cache
    // The same length and the old mtime: only the contents tell the two apart.
    const { atime, mtime } = statSync(file);
    app(tmp, 'two');
    utimesSync(file, atime, mtime);
    expect(cgi(file, { TMPDIR: tmp }).body.startsWith(`two ${own}/`)).toBe(true);
  });

  it('a symlink where the directory should be is not followed: no cache, nothing written through it', () => {
    const tmp = fresh();
    const target = mkdtempSync(join(tmpdir(), 'tsgi-cc-target-'));
    symlinkSync(target, join(tmp, `tsgi-compile-cache-${uid}`));
    const r = cgi(app(tmp, 'one'), { TMPDIR: tmp });
    expect(r.body).toBe('one undefined\n');
    expect(r.stderr).toBe('');
    expect(readdirSync(target)).toEqual([]);
  });

  it.skipIf(uid !== 0)('a directory owned by another user is not used (it could hold planted code): no cache, nothing written', () => {
    const tmp = fresh();
    const theirs = join(tmp, 'tsgi-compile-cache-0');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    expect(cgi(app(tmp, 'one'), { TMPDIR: tmp }).body).toBe('one undefined\n');
    expect(readdirSync(theirs)).toEqual([]);
  });

  it('a directory others may write is not used', () => {
    const tmp = fresh();
    const open = join(tmp, `tsgi-compile-cache-${uid}`);
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(cgi(app(tmp, 'one'), { TMPDIR: tmp }).body).toBe('one undefined\n');
    expect(readdirSync(open)).toEqual([]);
  });

  it('a temp dir others may write without the sticky bit is not used (they could swap the directory); with it, it is', () => {
    const tmp = fresh();
    chmodSync(tmp, 0o777);
    const file = app(tmp, 'one');
    expect(cgi(file, { TMPDIR: tmp }).body).toBe('one undefined\n');
    chmodSync(tmp, 0o1777);
    expect(cgi(file, { TMPDIR: tmp }).body.startsWith(`one ${join(tmp, `tsgi-compile-cache-${uid}`)}/`)).toBe(true);
  });

  it('a temp dir where no directory can be made (a regular file) costs only the cache: served, nothing on stderr', () => {
    const tmp = fresh();
    const blocker = join(tmp, 'file');
    writeFileSync(blocker, '');
    const r = cgi(app(tmp, 'one'), { TMPDIR: blocker });
    expect(r.body).toBe('one undefined\n');
    expect(r.stderr).toBe('');
  });

  it('NODE_COMPILE_CACHE, when set, is used as given; TSGI_NO_CODE_CACHE=1 turns the cache off', () => {
    const tmp = fresh();
    const chosen = join(tmp, 'chosen');
    const file = app(tmp, 'one');
    expect(cgi(file, { TMPDIR: tmp, NODE_COMPILE_CACHE: chosen }).body.startsWith(`one ${chosen}/`)).toBe(true);
    expect(readdirSync(tmp)).not.toContain(`tsgi-compile-cache-${uid}`);
    expect(cgi(file, { TMPDIR: tmp, TSGI_NO_CODE_CACHE: '1' }).body).toBe('one undefined\n');
  });
});
