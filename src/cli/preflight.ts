/**
 * The checks a server start makes before it binds anything, in one place:
 * `tsgi http|fastcgi|uwsgi|scgi` runs them first, and `tsgi check` runs the very
 * same function, so that the two cannot disagree (P14). Each failure is one
 * line naming the option and what to do, and exits 2 (bad configuration).
 *
 * Nothing is left behind: where the start would create a directory or a file
 * (the socket's directory, a log file), the check creates a uniquely named
 * directory at the same place and removes it at once, which tells what
 * access(2) cannot (root on a read-only or virtual file system such as /proc).
 *
 * The app itself is loaded after this, the same way on both paths: after
 * the drop to `--user`/`--group` (main.ts check(); serve.ts for the start,
 * in the serving process), never in a root master.
 *
 * Two conditions belong to the moment, not to the configuration: an address
 * that a process listens on now, and the inherited socket on fd 0. `tsgi
 * check` is run beside the running server before a reload, so these are
 * reported as notes; the start itself refuses them when it binds.
 */
import { controlPath, metricsAddress } from './operate-options.js';
import { accessSync, constants, lstatSync, mkdtempSync, rmdirSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { GatewayError } from '../contract/errors.js';
import { checkDirPlanned, checkReopenable, checkSafely, runningAsRoot } from '../contract/safe-open.js';
import { checkPrivileges, resolveGroup, resolveUser } from '../server/privileges.js';
import { checkSocketPathLength } from '../server/listen.js';
import type { Settings } from './settings.js';

/** A configuration the start would refuse: one line, exit 2. */
const bad = (message: string): GatewayError => new GatewayError('ERR_BAD_OPTION', message);

const codeOf = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));

function stat(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    const code = codeOf(err);
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw Object.assign(new Error(code), { code });
    throw err;
  }
}

/** The nearest directory of `dir` (itself or an ancestor) that exists; throws ENOTDIR when a file is in the way. */
function nearestExisting(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    const st = stat(d);
    if (st !== undefined) {
      if (!st.isDirectory()) throw Object.assign(new Error('ENOTDIR'), { code: 'ENOTDIR' });
      return d;
    }
    if (dirname(d) === d) return d;
  }
}

/**
 * Whether this process may create an entry in `dir` (a directory that
 * exists): it creates a uniquely named directory there and removes it.
 */
function probeCreate(dir: string): void {
  const made = mkdtempSync(join(dir, '.tsgi-check-'));
  rmdirSync(made);
}

/**
 * A file tsgi writes (`--pid`, `--access-log`, `--error-log`): an existing
 * one must be a writable file; a new one needs a directory this process may
 * create it in (created first when `mkdirs`, as the log files' are).
 */
function checkWritableFile(path: string, option: string, mkdirs: boolean): void {
  const dir = dirname(path);
  let st: Stats | undefined;
  let makesDir = false;
  try {
    st = stat(path);
    if (st !== undefined) {
      if (st.isDirectory()) throw bad(`--${option} ${path}: is a directory; give a file name`);
      accessSync(path, constants.W_OK);
      return;
    }
    const existing = nearestExisting(dir);
    if (existing !== dir && !mkdirs) throw bad(`--${option} ${path}: the directory ${dir} does not exist; create it first`);
    makesDir = existing !== dir;
    probeCreate(existing);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    const code = codeOf(err);
    throw bad(code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
      ? `--${option} ${path}: cannot write ${st !== undefined ? 'it' : `in ${dir}`} (${code}); give a path the user tsgi starts as may write`
      // The same words as the start's own refusal (safe-open.ts openSafely).
      : makesDir ? `--${option}: cannot create the directory ${dir} (${code})` : `--${option} ${path}: cannot create it (${code})`);
  }
}

/**
 * `--socket PATH`: short enough for a unix socket, its directory creatable
 * (or, existing, writable), and no file that is not a socket in its place.
 */
async function checkSocket(path: string): Promise<string | undefined> {
  checkSocketPathLength(path);
  const dir = dirname(path);
  try {
    probeCreate(nearestExisting(dir));
  } catch (err) {
    const code = codeOf(err);
    // The same words as the start's own refusal (listen.ts ensureSocketDir).
    throw bad(code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
      ? `cannot create ${dir} for the socket ${path}: permission denied; create it owned by the user tsgi runs as (systemd: RuntimeDirectory=), or pick a directory that user may write`
      : `cannot create ${dir} for the socket ${path}: ${code}`);
  }
  // P12, as the start's ensureSocketDir: a directory others could put a link in is refused.
  if (runningAsRoot()) checkDirPlanned(dir, `--socket ${path}`);
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return undefined; // not there yet: the start creates it
  }
  if (!st.isSocket()) throw bad(`${path} exists and is not a socket; refusing to replace it`);
  const net = await import('node:net');
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
  return live ? `${path}: a process accepts connections on it now; a start is refused while it does` : undefined;
}

/** TCP: bound for a moment and released, which says what the start's bind would (a port below 1024, an address not on this machine). */
async function checkTcp(host: string, port: number): Promise<string | undefined> {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const net = await import('node:net');
  const { listenError } = await import('../server/listen.js');
  const server = net.createServer();
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    server.once('error', resolve);
    server.listen({ host, port, exclusive: true }, () => resolve(null));
  });
  if (err === null) {
    await new Promise<void>((r) => server.close(() => r()));
    return undefined;
  }
  if (err.code === 'EADDRINUSE') return `${where}: a process listens there now; a start is refused while it does`;
  throw bad(listenError(err, where).message);
}

/** `--chown USER[:GROUP]`: names that exist, and, unless root, a file this process may give away. */
function checkChown(spec: string): void {
  const [user, group] = spec.split(':', 2) as [string, string | undefined];
  const root = process.getuid?.() === 0;
  const where = (e: unknown): never => { throw bad(`--chown ${spec}: ${e instanceof Error ? e.message : String(e)}`); };
  let uid = -1;
  let gid = -1;
  try {
    if (user !== '') uid = resolveUser(user).uid;
    if (group !== undefined && group !== '') gid = resolveGroup(group);
  } catch (err) {
    where(err);
  }
  if (root) return;
  if (uid !== -1 && uid !== process.getuid?.()) where('only root may give a file to another user');
  if (gid !== -1 && !(process.getgroups?.() ?? []).includes(gid)) where(`this user (uid ${process.getuid?.()}) is not in that group, and only root may give a file to it`);
}

/** True when systemd passed this process its sockets (listen.ts systemdFds, without taking them). */
function systemdSockets(): boolean {
  const n = Number(process.env.LISTEN_FDS);
  return process.env.LISTEN_PID === String(process.pid) && Number.isInteger(n) && n > 0;
}

/**
 * Every check the start makes before it binds (P14): `--user`/`--group`,
 * `--pid`, the log files, the socket path or TCP address, `--chown`. Throws
 * (ERR_BAD_OPTION, one line) where the start would fail; returns notes on
 * what only the moment decides (an address in use, fd 0), for `tsgi check`.
 */
export async function preflight(s: Settings): Promise<string[]> {
  const v = s.values;
  const notes: string[] = [];
  const str = (name: string): string | undefined => v[name] as string | undefined;
  // Users and groups first: the start checks them before it binds or writes anything.
  // P13: the pool's ceiling (the master refuses the same when it starts).
  const maxWorkers = v['max-workers'] as number | undefined;
  if (maxWorkers !== undefined && maxWorkers < 1) throw bad(`--max-workers ${maxWorkers}: give at least 1`);
  // O5: with MIN:MAX, the top of the range is what must fit.
  const top = typeof v.workers === 'string' ? Number(v.workers.split(':')[1]) : s.workers;
  if (maxWorkers !== undefined && top > maxWorkers) throw bad(`--workers ${typeof v.workers === 'string' ? v.workers : s.workers} is more than --max-workers ${maxWorkers}`);
  const runAs = checkPrivileges(str('user'), str('group'));
  // As root, the files are opened as openSafely opens them (P12): the same refusals here.
  const root = runningAsRoot();
  const pid = str('pid');
  if (pid !== undefined) {
    if (root) checkSafely(pid, { flags: 0, mode: 0o644, what: '--pid' });
    checkWritableFile(pid, 'pid', false);
  }
  for (const log of ['error-log', 'access-log']) {
    const path = str(log);
    if (path === undefined || path === '-') continue;
    if (root) checkSafely(path, { flags: 0, mode: 0o640, what: `--${log}`, ...(runAs ? { owner: { uid: runAs.uid, gid: runAs.gid } } : {}) });
    checkWritableFile(path, log, true);
    // A single process reopens its logs as the run user (serve.ts openLogs).
    if (runAs !== null && s.workers === 0) checkReopenable(path, `--${log}`, runAs);
  }
  if (systemdSockets()) {
    notes.push('listen: the sockets systemd passed (LISTEN_FDS)');
    return checkOperations(s, notes);
  }
  const l = s.listen;
  if (l.socket !== undefined) {
    const note = await checkSocket(l.socket);
    if (note !== undefined) notes.push(note);
    if (l.chown !== undefined) checkChown(l.chown);
  } else if (l.port !== undefined) {
    if (l.port !== 0) {
      const note = await checkTcp(l.host ?? '127.0.0.1', l.port);
      if (note !== undefined) notes.push(note);
    }
  } else {
    notes.push('listen: fd 0, the listening socket the web server (mod_fcgid, spawn-fcgi) passes; the start refuses an fd 0 that is not one');
  }
  return checkOperations(s, notes);
}

/** O1–O3: a master's control socket and --metrics address, checked as the listening socket is (after it). */
async function checkOperations(s: Settings, notes: string[]): Promise<string[]> {
  if (s.workers === 0) return notes;
  const m = metricsAddress(s.values);
  for (const path of [controlPath(s.values), m?.socket]) {
    const note = path === undefined ? undefined : await checkSocket(path);
    if (note !== undefined) notes.push(note);
  }
  const note = m?.port !== undefined && m.port !== 0 ? await checkTcp(m.host ?? '127.0.0.1', m.port) : undefined;
  if (note !== undefined) notes.push(note);
  return notes;
}
