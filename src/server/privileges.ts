/**
 * Users and groups by name (`--chown USER[:GROUP]`, `--user`, `--group`) and
 * the privilege drop after binding: a process started as root binds its
 * socket (a privileged port, a directory under /run), then runs the app as
 * an unprivileged user, as PHP-FPM and uWSGI do. P12: after the drop no id
 * the process holds is 0 (uid, gid, supplementary groups), and it is checked.
 */
import { lchownSync, lstatSync, readFileSync } from 'node:fs';
import { GatewayError } from '../contract/errors.js';
import { noteRunGroups } from '../contract/safe-open.js';

function getent(db: 'passwd' | 'group' | 'initgroups', name: string): string[] | null {
  try {
    // getent asks NSS (files, LDAP, systemd's dynamic users…), not just /etc/passwd.
    // node:child_process is loaded here, when a name must be looked up: it pulls in net, dgram and
    // stream, which a CGI request (this file shares its bundle) must not pay for at start-up.
    const line = process.getBuiltinModule('node:child_process').execFileSync('getent', [db, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!;
    return db === 'initgroups' ? line.trim().split(/\s+/) : line.split(':');
  } catch {
    return null;
  }
}

/** A user name or numeric id → { uid, gid (the user's primary group, -1 without a passwd entry), name (undefined then) }. */
export function resolveUser(user: string): { uid: number; gid: number; name: string | undefined } {
  const e = getent('passwd', user);
  if (e) return { uid: Number(e[2]), gid: Number(e[3]), name: e[0]! };
  if (/^\d+$/.test(user)) return { uid: Number(user), gid: -1, name: undefined };
  throw new GatewayError('ERR_CONFIG', `user "${user}" does not exist`);
}

/** A group name or numeric id → gid. */
export function resolveGroup(group: string): number {
  const e = getent('group', group);
  if (e) return Number(e[2]);
  if (/^\d+$/.test(group)) return Number(group);
  throw new GatewayError('ERR_CONFIG', `group "${group}" does not exist`);
}

/** Who `--user` / `--group` make the app run as. */
export interface RunAs {
  uid: number;
  gid: number;
  /** The passwd name, for initgroups(3); undefined for a uid without a passwd entry. */
  name: string | undefined;
  /** Every group the process holds after the drop: `gid`, then the user's supplementary groups. */
  groups: number[];
}

/**
 * Checks `--user`/`--group` before anything is bound or created, and says who
 * the app will run as (null without them). Refused, each with one line (P12):
 * not started as root; an unknown name; `--group` alone (the uid would stay
 * 0); a uid, gid or supplementary group that is 0; a uid without a passwd
 * entry and no `--group` (it has no group of its own: the gid would stay 0).
 */
export function checkPrivileges(user: string | undefined, group: string | undefined): RunAs | null {
  if (user === undefined && group === undefined) return null;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new GatewayError('ERR_CONFIG', '--user and --group need tsgi to be started as root (it binds, then drops to them)');
  }
  if (user === undefined) throw new GatewayError('ERR_CONFIG', `--group ${group} without --user would leave the app running as root; give --user too`);
  const u = resolveUser(user);
  if (u.uid === 0) throw new GatewayError('ERR_CONFIG', `--user ${user} is root (uid 0): give an unprivileged user`);
  if (group === undefined && u.name === undefined) {
    throw new GatewayError('ERR_CONFIG', `--user ${user}: uid ${u.uid} has no passwd entry, so no group of its own (the app would keep root's group); give --group too, e.g. --group nogroup`);
  }
  const gid = group !== undefined ? resolveGroup(group) : u.gid;
  if (gid === 0) {
    throw new GatewayError('ERR_CONFIG', group !== undefined ? `--group ${group} is root's group (gid 0): give an unprivileged group`
      : `--user ${user}: its primary group is gid 0 (root's); give --group with an unprivileged group`);
  }
  // initgroups(3) adds the groups that list the user in the group database.
  const extra = u.name === undefined ? [] : (getent('initgroups', u.name) ?? []).slice(1).map(Number).filter((g) => Number.isInteger(g) && g !== gid);
  if (extra.includes(0)) throw new GatewayError('ERR_CONFIG', `--user ${user} is a member of root's group (gid 0) in the group database; remove it from that group, or give another user`);
  const groups = [gid, ...extra];
  noteRunGroups(groups);
  return { uid: u.uid, gid, name: u.name, groups };
}

/**
 * `--user` / `--group`: become that user (and group) for good. Root only;
 * called after the listening socket exists, before the app is loaded. The
 * order matters (P12): the supplementary groups, then the gid (both need
 * root), then the uid; and the result is checked, so that a drop that left
 * an id 0 anywhere stops the process instead of running the app.
 */
export function dropPrivileges(user: string | undefined, group: string | undefined): RunAs | null {
  const to = checkPrivileges(user, group);
  if (to === null) return null;
  const proc = process as NodeJS.Process & { initgroups?: (user: string, extra: number) => void };
  // A named user gets its own supplementary groups; a bare uid only its --group.
  if (to.name !== undefined) proc.initgroups!(to.name, to.gid);
  else process.setgroups!([to.gid]);
  process.setgid!(to.gid);
  process.setuid!(to.uid);
  verifyDropped(to);
  return to;
}

/** After the drop: no id is 0, the ids are the asked ones, and root cannot be had back. */
function verifyDropped(to: RunAs): void {
  const ids = { uid: process.getuid!(), euid: process.geteuid!(), gid: process.getgid!(), egid: process.getegid!() };
  const groups = process.getgroups!();
  let back = false;
  try { process.setuid!(0); back = true; } catch { /* EPERM: as it should be */ }
  try { process.setgid!(0); back = true; } catch { /* EPERM */ }
  const wrong = back ? 'root could be regained (setuid(0) succeeded)'
    : ids.uid !== to.uid || ids.euid !== to.uid ? `uid ${ids.uid}/${ids.euid} instead of ${to.uid}`
    : ids.gid !== to.gid || ids.egid !== to.gid ? `gid ${ids.gid}/${ids.egid} instead of ${to.gid}`
    : groups.includes(0) ? `supplementary groups ${groups.join(',')} include 0`
    : capabilities() !== 0n ? 'capabilities are left (CapEff is not 0)' : '';
  if (wrong !== '') throw new GatewayError('ERR_WORKER', `dropping privileges failed: ${wrong}; stopping rather than running the app with them`);
}

/** The effective capability set on Linux (0 elsewhere): a uid that is not 0 may still hold root's powers. */
function capabilities(): bigint {
  if (process.platform !== 'linux') return 0n;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
    return m ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

/**
 * `--chown USER[:GROUP]` (or `:GROUP`) on the socket file. lchown: the path
 * is never followed through a link that someone may have put in its place.
 */
export function chownSocket(path: string, spec: string, ino?: number): void {
  const [user, group] = spec.split(':', 2) as [string, string | undefined];
  const uid = user === '' ? -1 : resolveUser(user).uid;
  const gid = group === undefined || group === '' ? -1 : resolveGroup(group);
  if (ino !== undefined && lstatSync(path, { throwIfNoEntry: false })?.ino !== ino) {
    throw new GatewayError('ERR_LISTEN', `--chown ${spec}: ${path} is no longer the socket tsgi bound; refusing to change its owner`);
  }
  try {
    lchownSync(path, uid, gid);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GatewayError('ERR_LISTEN', `--chown ${spec}: cannot change the owner of ${path} (${code ?? (err as Error).message}); only root may give a file away`);
  }
}
