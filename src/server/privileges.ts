/**
 * Users and groups by name (`--chown USER[:GROUP]`, `--user`, `--group`) and
 * the privilege drop after binding: a process started as root binds its
 * socket (a privileged port, a directory under /run), then runs the app as
 * an unprivileged user, as PHP-FPM and uWSGI do.
 */
import { chownSync } from 'node:fs';
import { GatewayError } from '../contract/errors.js';

function lookup(db: 'passwd' | 'group', name: string): string[] | null {
  try {
    // getent asks NSS (files, LDAP, systemd's dynamic users…), not just /etc/passwd.
    // node:child_process is loaded here, when a name must be looked up: it pulls in net, dgram and
    // stream, which a CGI request (this file shares its bundle) must not pay for at start-up.
    const line = process.getBuiltinModule('node:child_process').execFileSync('getent', [db, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!;
    return line.split(':');
  } catch {
    return null;
  }
}

/** A user name or numeric id → { uid, gid (the user's primary group), name }. */
export function resolveUser(user: string): { uid: number; gid: number; name: string } {
  const e = lookup('passwd', user);
  if (e) return { uid: Number(e[2]), gid: Number(e[3]), name: e[0]! };
  if (/^\d+$/.test(user)) return { uid: Number(user), gid: -1, name: user };
  throw new GatewayError('ERR_BAD_OPTION', `user "${user}" does not exist`);
}

/** A group name or numeric id → gid. */
export function resolveGroup(group: string): number {
  const e = lookup('group', group);
  if (e) return Number(e[2]);
  if (/^\d+$/.test(group)) return Number(group);
  throw new GatewayError('ERR_BAD_OPTION', `group "${group}" does not exist`);
}

/** `--chown USER[:GROUP]` (or `:GROUP`) on the socket file. */
export function chownSocket(path: string, spec: string): void {
  const [user, group] = spec.split(':', 2) as [string, string | undefined];
  const uid = user === '' ? -1 : resolveUser(user).uid;
  const gid = group === undefined || group === '' ? -1 : resolveGroup(group);
  try {
    chownSync(path, uid, gid);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GatewayError('ERR_LISTEN', `--chown ${spec}: cannot change the owner of ${path} (${code ?? (err as Error).message}); only root may give a file away`);
  }
}

/** Checks `--user`/`--group` before anything is bound: root, and names that exist. */
export function checkPrivileges(user: string | undefined, group: string | undefined): void {
  if (user === undefined && group === undefined) return;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new GatewayError('ERR_BAD_OPTION', '--user and --group need tsgi to be started as root (it binds, then drops to them)');
  }
  if (user !== undefined) resolveUser(user);
  if (group !== undefined) resolveGroup(group);
}

/**
 * `--user` / `--group`: become that user (and group) for good. Root only;
 * called after the listening socket exists, before the app is loaded.
 */
export function dropPrivileges(user: string | undefined, group: string | undefined): void {
  if (user === undefined && group === undefined) return;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new GatewayError('ERR_BAD_OPTION', '--user and --group need tsgi to be started as root (it binds, then drops to them)');
  }
  const u = user === undefined ? undefined : resolveUser(user);
  const gid = group !== undefined ? resolveGroup(group) : u !== undefined && u.gid >= 0 ? u.gid : undefined;
  // Order matters: groups first (setgid needs root), then the user.
  const proc = process as NodeJS.Process & { initgroups?: (user: string, extra: number) => void };
  if (u !== undefined && u.gid >= 0) proc.initgroups!(u.name, gid ?? u.gid);
  else process.setgroups!(gid !== undefined ? [gid] : []);
  if (gid !== undefined) process.setgid!(gid);
  if (u !== undefined) process.setuid!(u.uid);
}
