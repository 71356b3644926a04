/**
 * `--workers N`: the CLI's side of the master. The master itself is the
 * server side's Arbiter (src/server/arbiter/); this file reads what it needs
 * from the settings, gives it the log and pid files to open, and reads the
 * settings again when it reloads.
 */
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { log } from '../contract/log.js';
import { Arbiter } from '../server/arbiter/arbiter.js';
import type { PoolSettings } from '../server/arbiter/options.js';
import { openLogs, reopenLogs, writePid } from './serve.js';
import { parseAppSpec } from './load-app.js';
import { watchTree } from './watch-tree.js';
import { opt, type Settings } from './settings.js';
import { UsageError, workerRange } from './options.js';
import { controlPath, metricsAddress } from './operate-options.js';

/** --max-workers when not given: four per CPU, and never below the --workers asked for (P13). */
export function defaultMaxWorkers(workers: number): number {
  return Math.max(4 * availableParallelism(), workers);
}

/** The part of the settings the master applies anew on every reload. */
function poolSettings(s: Settings): PoolSettings {
  const range = workerRange(s.values);
  const top = range?.max ?? s.workers;
  return {
    workers: s.workers,
    maxWorkers: opt<number>(s.values, 'max-workers') ?? defaultMaxWorkers(top),
    // O5: MIN:MAX with MIN below MAX adapts; the top is checked against --max-workers below.
    scale: range !== undefined && range.min < range.max ? { min: range.min, max: range.max, idleMs: (opt<number>(s.values, 'idle-timeout') ?? 30) * 1000 } : undefined,
    maxRequests: opt<number>(s.values, 'max-requests') ?? 0,
    maxRequestsJitter: opt<number>(s.values, 'max-requests-jitter') ?? 0,
    gracefulMs: s.gracefulMs,
  };
}

/** Runs the master until it is stopped; `reread` loads the settings again (SIGHUP). */
export async function runMaster(s: Settings, version: string, reread: () => Promise<Settings>): Promise<void> {
  const pool = poolSettings(s);
  // P13: the pool has a ceiling, whatever SIGTTIN or a reloaded config asks for.
  const top = pool.scale?.max ?? pool.workers;
  if (top > pool.maxWorkers) throw new UsageError(`--workers ${pool.scale ? `${pool.workers}:${top}` : top} is more than --max-workers ${pool.maxWorkers}`, s.command);
  const arbiter = await Arbiter.start({
    command: s.command,
    app: s.app,
    version,
    listen: s.listen,
    user: opt(s.values, 'user'),
    group: opt(s.values, 'group'),
    timeoutMs: (opt<number>(s.values, 'timeout') ?? 0) * 1000,
    slowLogMs: (opt<number>(s.values, 'slow-log') ?? 0) * 1000,
    maxMemoryMiB: opt<number>(s.values, 'max-memory') ?? 0,
    pool,
    reread: async () => poolSettings(await reread()),
    openLogs: () => {
      const files = openLogs(s.values, false); // access false: the workers write the access log, the master only creates it
      return () => reopenLogs(files);
    },
    writePid: () => writePid(s.values),
    metrics: metricsAddress(s.values, s.command),
    control: controlPath(s.values, (path) => log('warn', `no control socket: ${path} would be too long for a unix socket; give --control PATH`)),
  });
  if (s.values.reload === true) watchApp(s, (why) => void arbiter.reload(why));
  arbiter.run();
}

/** --reload (development): a changed file under the app's directory starts a new generation. */
function watchApp(s: Settings, reload: (why: string) => void): void {
  const dir = dirname(resolve(parseAppSpec(s.app).path));
  let pending: ReturnType<typeof setTimeout> | undefined;
  // tsgi's own files (logs, pid) may live there too: writing them must not reload.
  const own = new Set(['access-log', 'error-log', 'pid'].map((k) => opt<string>(s.values, k)).filter((p): p is string => p !== undefined && p !== '-').map((p) => resolve(p)));
  // Every directory watched, not every file: an atomic save (a new inode) stays seen (watch-tree.ts).
  watchTree(dir, (file) => {
    clearTimeout(pending);
    pending = setTimeout(() => reload(`${file} changed`), 150);
  }, (file) => /(^|\/)(node_modules|\.git)(\/|$)/.test(file) || own.has(resolve(dir, file)));
  log('info', `--reload: watching ${dir}`);
}
