// Shared by the tests that start tsgi as root (privileges, privileged files):
// temp dirs other users may reach, one-shot runs, the ids of a process as
// /proc shows them, a connection attempt made as `nobody`.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, NODE, type TsgiProcess } from '../integration/tsgi-process.js';

/** True when the tests run as root; otherwise the suite is skipped loudly (a failure with TSGI_REQUIRE_SERVERS=1). */
export function requireRoot(file: string): boolean {
  if (process.getuid?.() === 0) return true;
  const why = `${file} needs root (it starts tsgi as root with --user/--group)`;
  if (process.env.TSGI_REQUIRE_SERVERS === '1') throw new Error(`${why}, and TSGI_REQUIRE_SERVERS=1 forbids skipping`);
  process.stderr.write(`\n!!!!!!!!\n!!! SKIPPING ${why}\n!!!!!!!!\n\n`);
  return false;
}

/** nobody's uid and nogroup's gid on Debian. */
export const NOBODY = 65534;

const dirs: string[] = [];
/** A temp dir (mode 755: other users may reach what is in it), removed by cleanDirs(). */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tsgi-p12-'));
  chmodSync(d, 0o755);
  dirs.push(d);
  return d;
}
/** Removes the temp dirs made so far. */
export function cleanDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** `tsgi ARGS`, run to its end (a refused start). */
export function tsgi(args: string[]) {
  return spawnSync(NODE, [BIN, ...args], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 20_000 });
}

/** The ids a process holds, from /proc/PID/status. */
export function ids(pid: number): { uid: number[]; gid: number[]; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const line = (name: string): number[] => (new RegExp(`^${name}:(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid: line('Uid'), gid: line('Gid'), groups: line('Groups').sort((a, b) => a - b) };
}

/** The processes that run the app: the single process, or the workers of generation 1. */
export async function appPids(t: TsgiProcess, workers: number): Promise<number[]> {
  if (workers === 0) {
    await t.waitLog(/serving/, 'tsgi to serve');
    return [t.child.pid!];
  }
  await t.waitLog(/worker \d+ \(pid \d+, generation 1\) ready/, 'the workers', workers);
  return t.readyPids();
}

/** Connects to a unix socket as nobody (another process, uid and gid 65534): 'connected' or the error code. */
export function connectAsNobody(path: string): Promise<string> {
  const script = "require('net').connect(process.argv[1]).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); });";
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, path], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('exit', () => resolve(out.trim()));
  });
}

/** A uid and gid that no passwd or group entry names. */
export function unnamedId(): number {
  for (let id = 54321; ; id++) {
    if (spawnSync('getent', ['passwd', String(id)]).status !== 0 && spawnSync('getent', ['group', String(id)]).status !== 0) return id;
  }
}
