/**
 * A serving process: alone (no `--workers`), or one worker of a master
 * (master.ts), which is the same program started with TSGI_WORKER set and
 * its listening sockets on fd 3 onwards. Either way it never dies silently:
 * an uncaught exception or unhandled rejection is logged with its stack, what
 * is in flight is answered, and the process exits non-zero for its
 * supervisor (the master, systemd, mod_fcgid) to start another.
 */
import { unlinkSync, writeFileSync } from 'node:fs';
import { accessLog, setAccessLog } from '../contract/access-log.js';
import { LogFile } from '../contract/log-file.js';
import { formatLogLine, log, setLogger } from '../contract/log.js';
import type { App } from '../contract/types.js';
import { systemdFds, type ListenOptions } from '../server/listen.js';
import { checkPrivileges, dropPrivileges } from '../server/privileges.js';
import { InFlightBoard } from '../server/in-flight-board.js';
import { RequestTracker } from '../server/request-tracker.js';
import type { AccessFormat } from '../contract/access-log.js';
import { claimedByBridge } from '../bridges/guard.js';
import { opt, type Settings } from './settings.js';

/** What a master tells its worker through the environment. */
export interface WorkerInfo {
  /** Worker number (1, 2, …), stable across its replacements. */
  id: number;
  /** The generation (a SIGHUP reload starts the next one). */
  generation: number;
  /** How many listening sockets it inherited, from fd 3 on. */
  fds: number;
  /** Requests after which to retire (`--max-requests` plus its jitter), 0 for never. */
  maxRequests: number;
  /** `wsgi.multiprocess`: more than one worker when this one started. */
  multiprocess: boolean;
  /** `--timeout`: the pipe on which the worker shows its requests in flight (in-flight-board.ts). */
  boardFd?: number;
}

/** Messages between master and worker (over the IPC channel). */
export type WorkerMessage =
  | { t: 'ready' }
  | { t: 'pong'; inFlight: string[] }
  | { t: 'retire'; served: number }
  | { t: 'fatal'; error: string; inFlight: string[] };

interface Running { close(graceMs?: number): Promise<void>; text: string }

/** Opens `--error-log` and `--access-log` as the settings say; returns the files (for SIGUSR1). */
export function openLogs(values: Settings['values'], access = true): LogFile[] {
  const files: LogFile[] = [];
  const errorLog = opt<string>(values, 'error-log');
  if (errorLog !== undefined && errorLog !== '-') {
    const f = new LogFile(errorLog, 2);
    files.push(f);
    setLogger((level, message) => f.write(formatLogLine(level, message)));
  }
  const accessPath = opt<string>(values, 'access-log');
  if (access && accessPath !== undefined) {
    const f = new LogFile(accessPath, 1);
    files.push(f);
    setAccessLog((line) => f.write(line));
  }
  return files;
}

/** SIGUSR1: reopens the log files; one that cannot be reopened stays in use, and the log says why. */
export function reopenLogs(files: LogFile[]): void {
  for (const f of files) {
    const err = f.reopen();
    if (err) log('warn', `SIGUSR1: cannot reopen ${f.path} (${(err as NodeJS.ErrnoException).code ?? err.message}); still writing to the old file`);
  }
}

/** Writes `--pid FILE`; returns the function that removes it. */
export function writePid(values: Settings['values']): () => void {
  const file = opt<string>(values, 'pid');
  if (file === undefined) return () => {};
  writeFileSync(file, `${process.pid}\n`);
  return () => { try { unlinkSync(file); } catch { /* gone */ } };
}

/** Starts the server(s) of `s` on each listener. */
async function start(s: Settings, app: App, listeners: ListenOptions[], multiprocess: boolean): Promise<Running[]> {
  const v = s.values;
  const common = {
    ...(opt<string>(v, 'mount') !== undefined ? { mount: opt<string>(v, 'mount')! } : {}),
    ...(opt<number>(v, 'max-body') !== undefined ? { maxBodyBytes: opt<number>(v, 'max-body')! } : {}),
    multiprocess,
  };
  const out: Running[] = [];
  for (const where of listeners) {
    if (s.command === 'http') {
      const { serveHttp } = await import('../server/http.js');
      const srv = await serveHttp(app, { ...common, ...where, accessLog: v['access-log'] === undefined });
      out.push({ close: (ms) => srv.close(ms), text: where.fd !== undefined ? `fd ${where.fd}` : `http://${srv.host.includes(':') ? `[${srv.host}]` : srv.host}:${srv.port}/` });
      continue;
    }
    const socketOpts = { ...common, ...where, ...(opt<number>(v, 'max-concurrent') !== undefined ? { maxRequests: opt<number>(v, 'max-concurrent')! } : {}) };
    const srv = s.command === 'fastcgi'
      ? await (await import('../server/fastcgi.js')).serveFastCgi(app, { ...socketOpts, ...(v['no-multiplex'] === true ? { multiplex: false } : {}) })
      : await (await import('../server/uwsgi.js')).serveUwsgi(app, socketOpts);
    out.push({ close: (ms) => srv.close(ms), text: srv.address.text });
  }
  return out;
}

/**
 * Serves `s` in this process. `loadApp` loads (and wraps) the app; it runs
 * after the privilege drop, so the app never runs as root.
 */
export async function serve(s: Settings, loadApp: () => Promise<App>, worker: WorkerInfo | null, version = ''): Promise<void> {
  const v = s.values;
  const logFiles = openLogs(v);
  const tracker = new RequestTracker({
    accessLog: accessLog(),
    accessFormat: (opt<AccessFormat>(v, 'access-log-format') ?? 'combined'),
    requestTimeoutMs: (opt<number>(v, 'request-timeout') ?? 0) * 1000,
    ...(worker?.boardFd !== undefined ? { board: new InFlightBoard(worker.boardFd) } : {}),
    ...(worker !== null && worker.maxRequests > 0 ? {
      onFinished: (served: number) => {
        if (served === worker.maxRequests) send({ t: 'retire', served });
      },
    } : {}),
  });
  // The hook costs a wrapper per request: only when something needs it.
  if (worker?.boardFd !== undefined || (worker?.maxRequests ?? 0) > 0 || v['access-log'] !== undefined || v['request-timeout'] !== undefined) tracker.install();

  let listeners: ListenOptions[];
  let app: App;
  let running: Running[];
  const removePid = worker === null ? writePid(v) : () => {};
  if (worker !== null) {
    // The master bound the sockets (as root, if it is): drop privileges, then load the app.
    dropPrivileges(opt(v, 'user'), opt(v, 'group'));
    listeners = Array.from({ length: worker.fds }, (_, i) => ({ fd: 3 + i }));
    app = await loadApp();
    running = await start(s, app, listeners, worker.multiprocess);
  } else {
    checkPrivileges(opt(v, 'user'), opt(v, 'group')); // before binding: a typo must not leave a socket behind
    const fds = systemdFds();
    listeners = fds.length > 0 ? fds.map((fd) => ({ fd })) : [s.listen];
    // Bind first (as root, if that is who started us), then drop privileges and load the app:
    // requests that arrive in between wait for it.
    let loaded: App | undefined;
    let ready: (a: App) => void = () => {};
    const loading = new Promise<App>((r) => { ready = r; });
    app = (env, startResponse) => loaded !== undefined ? loaded(env, startResponse) : loading.then((a) => a(env, startResponse));
    running = await start(s, app, listeners, false);
    dropPrivileges(opt(v, 'user'), opt(v, 'group'));
    loaded = await loadApp();
    ready(loaded);
  }

  let stopping: Promise<void> | undefined;
  const stop = (why: string, code: number): Promise<void> => {
    stopping ??= (async () => {
      // The servers wait up to --graceful-timeout, then close what is left (and say so);
      // the timer here only guards against an app that holds the stop for ever.
      const graceful = Promise.all(running.map((r) => r.close(s.gracefulMs)));
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), s.gracefulMs + 2000).unref());
      if (await Promise.race([graceful.then(() => 'done' as const), timer]) === 'timeout') {
        log('warn', `${why}: requests still running after --graceful-timeout ${s.gracefulMs / 1000} s, stopped: ${tracker.describe().join('; ')}`);
      }
      removePid();
      process.exit(code);
    })();
    return stopping;
  };
  const send = (m: WorkerMessage): void => {
    if (process.connected) process.send!(m);
  };

  // An exception a bridge took as one request's (it failed that request) is not the process's.
  process.on('uncaughtException', (err) => { if (!claimedByBridge(err)) fatal(err, 'uncaught exception'); });
  process.on('unhandledRejection', (err) => fatal(err, 'unhandled promise rejection'));
  const fatal = (err: unknown, what: string): void => {
    const text = err instanceof Error ? err.stack ?? err.message : String(err);
    log('error', `${what}: ${text}${tracker.inFlight.size ? `\n  in flight: ${tracker.describe().join('; ')}` : ''}; finishing what is in flight, then exiting`);
    send({ t: 'fatal', error: `${what}: ${err instanceof Error ? err.message : String(err)}`, inFlight: tracker.describe() });
    void stop(what, 1);
  };
  process.on('SIGUSR1', () => { reopenLogs(logFiles); });

  if (worker !== null) {
    // The master decides: it forwards what the worker must do. Ctrl-C reaches the
    // whole process group, so SIGINT is the master's alone.
    process.on('SIGINT', () => {});
    process.on('SIGHUP', () => {});
    process.on('SIGTERM', () => void stop('stop', 0));
    process.on('message', (m: { t: string }) => {
      if (m.t === 'ping') send({ t: 'pong', inFlight: tracker.inFlight.size ? tracker.describe() : [] });
      else if (m.t === 'stop') void stop('stop', 0);
    });
    // The master went away (killed with -9): do not outlive it.
    process.on('disconnect', () => void stop('master gone', 0));
    send({ t: 'ready' });
    return;
  }
  let signals = 0;
  const onStop = (sig: string): void => {
    if (++signals > 1) {
      log('warn', `${sig} again: stopping now`);
      for (const r of running) void r.close(0); // removes the socket file synchronously
      removePid();
      process.exit(1);
    }
    log('info', `${sig}: finishing in-flight requests (up to ${s.gracefulMs / 1000} s; ${sig} again stops at once)`);
    void stop(sig, 0);
  };
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('SIGHUP', () => log('warn', 'SIGHUP: a reload needs a master process (--workers N); ignored'));
  // Said last: once this line is out, the signals above are handled.
  log('info', `tsgi ${version} on Node ${process.version}: ${s.command} ${s.app} on ${running.map((r) => r.text).join(', ')}, one process (no --workers), pid ${process.pid}: serving`);
}
