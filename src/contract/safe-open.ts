/**
 * Files and directories that tsgi creates before it drops privileges: the
 * pid file, the log files and the unix socket's directory (CONFORMANCE P12).
 * Started as root, tsgi must not be steered into writing somewhere else by
 * whoever can write into those directories: the last path component is never
 * followed through a symbolic link (O_NOFOLLOW), what is opened must be a
 * plain file with one name (no FIFO, device or hard link to another file),
 * and a directory that others may write without the sticky bit is refused
 * outright. Directories are created one level at a time, so that a path
 * under /proc or a dangling parent is an error instead of a loop.
 */
import { chmodSync, closeSync, constants, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, readlinkSync, rmdirSync, statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GatewayError } from './errors.js';

/** Who may own a file that root opens for writing: root and, under `--user`, the run user. */
export interface Owner {
  uid: number;
  gid: number;
}

const code = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/** True when this process runs as root (where P12's rules apply). */
export function runningAsRoot(): boolean {
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}

/**
 * Creates `dir` and its missing parents, one mkdir(2) each, each with `mode`
 * exactly (the umask may only narrow it at first: it is widened to `mode`
 * right after, so no directory is ever more open than asked). As root, the
 * directory they are made in must be safe (checkDirSafe): nobody else can
 * then swap one for a link before its chmod. Returns the directories it
 * created, deepest last, for the caller to remove if what they were made
 * for fails. Bounded by the path's depth: a mkdir that fails under a parent
 * that exists (ENOENT under /proc) is an error, never a retry (node's
 * recursive mkdirSync loops on it for ever).
 */
export function makeDirs(dir: string, what: string, mode = 0o755): string[] {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    let st: Stats;
    try {
      st = statSync(d);
    } catch (err) {
      if (code(err) !== 'ENOENT' || dirname(d) === d) throw err;
      missing.push(d);
      continue;
    }
    if (!st.isDirectory()) throw Object.assign(new Error(`${d} is not a directory`), { code: 'ENOTDIR' });
    if (missing.length > 0 && runningAsRoot()) checkDirSafe(d, what, true);
    break;
  }
  const made: string[] = [];
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode });
      made.push(d);
      chmodSync(d, mode);
    } catch (err) {
      // Made meanwhile by someone else: fine when it is a directory.
      if (code(err) === 'EEXIST' && statSync(d).isDirectory()) continue;
      removeDirs(made);
      throw err;
    }
  }
  return made;
}

/** Removes directories `makeDirs` created (deepest first), as far as they are still empty. */
export function removeDirs(made: readonly string[]): void {
  for (const d of [...made].reverse()) {
    try { rmdirSync(d); } catch { return; }
  }
}

/** Why a directory others may write into is no place for root to write (mode bits only); '' when it is not. */
function openToOthers(st: Stats): string {
  return (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0 ? (st.mode & 0o002 ? 'everyone' : 'its group') : '';
}

/** The groups of the user the app will run as (`--user`), once known: the users tsgi guards root's files against. */
let runGroups: readonly number[] = [];

/** Tells checkDirSafe whom the app runs as (privileges.ts checkPrivileges). */
export function noteRunGroups(groups: readonly number[]): void {
  runGroups = groups;
}

/**
 * Like openToOthers, for a directory above the one root writes in: a group
 * the administrator gave write access there (Ubuntu's /var/log is 775
 * root:syslog) is trusted, unless the app's user is in it.
 */
function openAbove(st: Stats): string {
  if ((st.mode & 0o1000) !== 0) return '';
  if (st.mode & 0o002) return 'everyone';
  return (st.mode & 0o020) !== 0 && runGroups.includes(st.gid) ? "its group, which the app's user is in" : '';
}

/** How many symbolic links checkDirSafe follows on one path (the kernel's own limit). */
const MAX_LINKS = 40;

/**
 * P12: refuses a directory that its group or everyone may write unless it has
 * the sticky bit (as /tmp): anyone who may write there could put a link or a
 * file of their own where root is about to write. The directories above it
 * count too: whoever may rename one of them (its owner, or anyone who may
 * write the one above) can put a link to any directory in its place, and
 * root would then create or take over a file there (the name is checked with
 * O_NOFOLLOW, the directories on the way are not). So every directory on the
 * way, symbolic links followed, must be root's and closed to others (or
 * sticky), and a link is trusted only where nobody else could have made it.
 */
export function checkDirSafe(dir: string, what: string, makesIn = false): void {
  const fail = (why: string): never => { throw new GatewayError('ERR_CONFIG', `${what}: ${why}`); };
  const statOf = (p: string): Stats => {
    try {
      return lstatSync(p);
    } catch (err) {
      return fail(`cannot use the directory ${dir} (${code(err)} at ${p})`);
    }
  };
  let cur = '/';
  let curStat = statOf('/');
  let pending = resolve(dir).split('/').filter((n) => n !== '');
  let links = 0;
  for (;;) {
    if (pending.length === 0) {
      // The directory itself: its owner may write in it (a run user's log directory), nobody else.
      // One that root makes directories in (makesIn) is on the way to the file, as those above it.
      const others = openToOthers(curStat);
      if (makesIn && others === '' && curStat.uid !== 0) {
        fail(`the directory ${dir}, where tsgi makes the directories on the way, belongs to uid ${curStat.uid}, who could put a link in the place of one of them, ` +
          "where tsgi, as root, writes; create them yourself, or use a path whose directories are all root's and 755");
      }
      if (others !== '') {
        fail(`the directory ${dir} is writable by ${others} (mode ${(curStat.mode & 0o7777).toString(8)}) and has no sticky bit, ` +
          'so another user could put a link there where tsgi, as root, writes; make it 755 (or 1777, as /tmp)');
      }
      return;
    }
    // `cur` holds the next name: it must be a directory only root may rename things in.
    if (curStat.uid !== 0 || openAbove(curStat) !== '') {
      fail(`${cur}, on the way to ${dir}, ${curStat.uid !== 0 ? `belongs to uid ${curStat.uid}` : `is writable by ${openAbove(curStat)} (mode ${(curStat.mode & 0o7777).toString(8)})`}, ` +
        'who could put a link to another directory in the place of the one below it, where tsgi, as root, writes; use a path whose directories are all root\'s and 755');
    }
    const name = pending.shift()!;
    if (name === '.') continue;
    const next = name === '..' ? dirname(cur) : join(cur, name);
    const st = statOf(next);
    if (st.isSymbolicLink()) {
      // In a sticky directory (/tmp) anyone may have made a link: only root's own is followed.
      if (st.uid !== 0) fail(`${next}, on the way to ${dir}, is a symbolic link of uid ${st.uid}'s; tsgi, as root, follows only root's links`);
      if (++links > MAX_LINKS) fail(`too many symbolic links on the way to ${dir}`);
      const target = readlinkSync(next);
      pending = [...target.split('/').filter((n) => n !== ''), ...pending];
      if (target.startsWith('/')) {
        cur = '/';
        curStat = statOf('/');
      }
      continue;
    }
    if (!st.isDirectory()) fail(`${next}, on the way to ${dir}, is not a directory`);
    cur = next;
    curStat = st;
  }
}

/**
 * What root's makeDirs and checkDirSafe would refuse for `dir`, whether it
 * exists yet or not, found without creating anything (`tsgi check`, P14):
 * the directory itself, or the nearest existing one that tsgi would make
 * the missing ones in.
 */
export function checkDirPlanned(dir: string, what: string): void {
  let d = resolve(dir);
  while (statSync(d, { throwIfNoEntry: false }) === undefined && dirname(d) !== d) d = dirname(d);
  checkDirSafe(d, what, d !== resolve(dir));
}

/**
 * True when `uid` (with its groups `gids`) may create a file in `dir` (an
 * existing directory): what a process that dropped to that user needs to
 * reopen a log after a rotation.
 */
export function canCreateIn(dir: string, uid: number, gids: readonly number[]): boolean {
  const st = statSync(dir, { throwIfNoEntry: false });
  if (st === undefined || !st.isDirectory()) return false;
  const bits = st.uid === uid ? (st.mode >> 6) & 7 : gids.includes(st.gid) ? (st.mode >> 3) & 7 : st.mode & 7;
  return (bits & 3) === 3;
}

/**
 * A single process under `--user` reopens its logs (SIGUSR1) as the run
 * user, so that user must be able to create the new file: refused at the
 * start (and by `tsgi check`) rather than at the first rotation.
 */
export function checkReopenable(path: string, what: string, runAs: { uid: number; groups: readonly number[] }): void {
  const dir = dirname(resolve(path));
  if (!canCreateIn(dir, runAs.uid, runAs.groups)) {
    throw new GatewayError('ERR_CONFIG', `${what} ${path}: uid ${runAs.uid}, whom the app runs as, cannot create files in ${dir}, so it could not reopen the log after a rotation (SIGUSR1); ` +
      'give that directory to that user, or run with --workers (the master, which stays root, reopens the logs)');
  }
}

/** How openSafely opens a file. */
export interface SafeOpen {
  /** `constants.O_APPEND` for a log, 0 for a file rewritten from the start. */
  flags: number;
  /** The file's mode when it is created (0o640 for logs, 0o644 for the pid). */
  mode: number;
  /** Besides root, the user who may already own the file (the run user). */
  owner?: Owner;
  /** Names the file in messages (`--access-log /var/log/tsgi/access.log`). */
  what: string;
}

/** Why an existing file is not one root may write into ('' when it is). */
function refusal(st: Stats, o: SafeOpen): string {
  return !st.isFile() ? 'is not a plain file'
    : st.nlink !== 1 ? `has ${st.nlink} names (hard links), so it may be another file`
    : st.uid !== 0 && st.uid !== o.owner?.uid ? `belongs to uid ${st.uid}, neither root nor the user the app runs as` : '';
}

/**
 * What openSafely would refuse, found without creating or opening anything
 * (`tsgi check`, P14): an unsafe directory (when it exists), a link, or a
 * file root must not write into.
 */
export function checkSafely(path: string, o: SafeOpen): void {
  checkDirPlanned(dirname(resolve(path)), o.what);
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (st === undefined) return;
  if (st.isSymbolicLink()) {
    throw new GatewayError('ERR_CONFIG', `${o.what}: ${path} is a symbolic link; tsgi, as root, opens files only by their own path (give the real path, or - for standard output)`);
  }
  if (st.isFIFO() || st.isSocket()) throw new GatewayError('ERR_CONFIG', `${o.what}: ${path} is not a plain file (a FIFO or a socket)`);
  const why = refusal(st, o);
  if (why !== '') throw new GatewayError('ERR_CONFIG', `${o.what}: ${path} ${why}; refusing to write into it (remove it and tsgi creates it afresh)`);
}

/**
 * Opens `path` for writing, as root, without being steered elsewhere (P12):
 * the directory is made if missing and must be safe (checkDirSafe); the file
 * is created with its final mode or must be a plain file with one link owned
 * by root or `owner`; a FIFO is never waited on (O_NONBLOCK). Under
 * `--user`, a file is handed to `owner` so that the run user may reopen it.
 * Returns the descriptor.
 */
export function openSafely(path: string, o: SafeOpen): number {
  const dir = dirname(resolve(path));
  try {
    makeDirs(dir, o.what);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('ERR_CONFIG', `${o.what}: cannot create the directory ${dir} (${code(err)})`);
  }
  checkDirSafe(dir, o.what);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | o.flags, o.mode);
  } catch (err) {
    const c = code(err);
    throw new GatewayError('ERR_CONFIG', c === 'ELOOP'
      ? `${o.what}: ${path} is a symbolic link; tsgi, as root, opens files only by their own path (give the real path, or - for standard output)`
      : c === 'ENXIO' ? `${o.what}: ${path} is not a plain file (a FIFO or a socket)` : `${o.what}: cannot open ${path} (${c})`);
  }
  try {
    const why = refusal(fstatSync(fd), o);
    if (why !== '') throw new GatewayError('ERR_CONFIG', `${o.what}: ${path} ${why}; refusing to write into it (remove it and tsgi creates it afresh)`);
    const st = fstatSync(fd);
    if (o.owner !== undefined && (st.uid !== o.owner.uid || st.gid !== o.owner.gid)) fchownSync(fd, o.owner.uid, o.owner.gid);
  } catch (err) {
    closeSync(fd);
    throw err instanceof GatewayError ? err : new GatewayError('ERR_CONFIG', `${o.what}: ${path}: ${code(err)}`);
  }
  return fd;
}
