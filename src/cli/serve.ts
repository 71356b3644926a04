/**
 * A serving process: alone (no `--workers`), or one worker of a master
 * (server/arbiter/), which is the same program started with TSGI_WORKER set and
 * its listening sockets on fd 3 onwards. Either way it never dies silently:
 * an uncaught exception or unhandled rejection is logged with its stack, what
 * is in flight is answered, and the process exits non-zero for its
 * supervisor (the master, systemd, mod_fcgid) to start another.
 */
import { closeSync, fstatSync, ftruncateSync, lstatSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { accessLog, setAccessLog } from '../contract/access-log.js';
import { GatewayError } from '../contract/errors.js';
import { LogFile } from '../contract/log-file.js';
import { checkReopenable, openSafely, runningAsRoot } from '../contract/safe-open.js';
import { formatLogLine, log, setLogger } from '../contract/log.js';
import type { App } from '../contract/types.js';
import { systemdFds, type ListenOptions } from '../server/listen.js';
import { checkPrivileges, dropPrivileges } from '../server/privileges.js';
import { InFlightBoard } from '../server/in-flight-board.js';
import { startStackProbe } from '../server/stack-probe.js';
import type { Handoff } from '../server/handoff.js';
import type { Socket } from 'node:net';
import { RequestTracker } from '../server/request-tracker.js';
import { WorkerStats } from '../server/worker-stats.js';
import type { AccessFormat } from '../contract/access-log.js';
import { claimedByBridge } from '../bridges/guard.js';
import { opt, type Settings } from './settings.js';
import type { MasterMessage, WorkerInfo, WorkerMessage } from '../server/arbiter/messages.js';

interface Running {
  close(graceMs?: number, handoff?: Handoff): Promise<void>;
  adopt(socket: Socket, rest: Buffer): void;
  text: string;
}

/**
 * Opens `--error-log` and `--access-log` as the settings say; returns the
 * files (for SIGUSR1). `access` false is the master's call: its workers
 * write the access log, the master only creates (and reopens) the file.
 *
 * P12, started as root with `--user`: the files are created without
 * following links and handed to the run user, who can then reopen them
 * after a rotation: with `--workers`, the master (still root) creates the new
 * file on SIGUSR1 and the workers open it; a single process has dropped to
 * the run user by then and creates it itself, so its log directories must be
 * writable by that user, or the start is refused (rather than a rotation
 * failing later).
 */
export function openLogs(values: Settings['values'], access = true): LogFile[] {
  const runAs = runningAsRoot() ? checkPrivileges(opt(values, 'user'), opt(values, 'group')) : null;
  const files: LogFile[] = [];
  const open = (key: 'error-log' | 'access-log', std: number): LogFile | undefined => {
    const path = opt<string>(values, key);
    if (path === undefined || path === '-') return undefined;
    if (access && runAs !== null) {
      try {
        checkReopenable(path, `--${key}`, runAs);
      } catch (err) {
        for (const x of files) x.close();
        throw err;
      }
    }
    const f = new LogFile(path, std, { what: `--${key}`, ...(runAs ? { owner: { uid: runAs.uid, gid: runAs.gid } } : {}) });
    files.push(f);
    return f;
  };
  const errorLog = open('error-log', 2);
  if (errorLog) setLogger((level, message) => errorLog.write(formatLogLine(level, message)));
  // `-` is standard output: the access log goes there with no file to open.
  const accessFile = opt<string>(values, 'access-log') === '-' ? new LogFile('-', 1) : open('access-log', 1);
  if (access && accessFile) setAccessLog((line) => accessFile.write(line));
  return files;
}

/** SIGUSR1: reopens the log files; one that cannot be reopened stays in use, and the log says why. */
export function reopenLogs(files: LogFile[]): void {
  for (const f of files) {
    const err = f.reopen();
    if (err) log('warn', `SIGUSR1: cannot reopen ${f.path} (${(err as NodeJS.ErrnoException).code ?? err.message}); still writing to the old file`);
  }
}

/**
 * Writes `--pid FILE`; returns the function that removes it (if it is still
 * the file written here). As root it is opened as the logs are (P12): no
 * link followed, nothing but root's own plain file rewritten.
 */
export function writePid(values: Settings['values']): () => void {
  const file = opt<string>(values, 'pid');
  if (file === undefined) return () => {};
  let ino: number;
  try {
    if (runningAsRoot()) {
      const fd = openSafely(file, { flags: 0, mode: 0o644, what: '--pid' });
      try {
        ftruncateSync(fd, 0);
        writeSync(fd, `${process.pid}\n`);
        ino = fstatSync(fd).ino;
      } finally {
        closeSync(fd);
      }
    } else {
      writeFileSync(file, `${process.pid}\n`);
      ino = lstatSync(file).ino;
    }
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('ERR_CONFIG', `--pid ${file}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return () => { try { if (lstatSync(file).ino === ino) unlinkSync(file); } catch { /* gone */ } };
}

/** Starts the server(s) of `s` on each listener. */
async function start(s: Settings, app: App, listeners: ListenOptions[], multiprocess: boolean): Promise<Running[]> {
  const v = s.values;
  const common = {
    ...(opt<string>(v, 'mount') !== undefined ? { mount: opt<string>(v, 'mount')! } : {}),
    ...(opt<number>(v, 'max-body') !== undefined ? { maxBodyBytes: opt<number>(v, 'max-body')! } : {}),
    ...(v['stream-bodies'] === true ? { streamBodies: true } : {}),
    ...(opt<string>(v, 'offload') !== undefined ? { offload: opt<string>(v, 'offload')! } : {}),
    ...(opt<number>(v, 'backlog') !== undefined ? { backlog: opt<number>(v, 'backlog')! } : {}),
    multiprocess,
    // W4: the tunnel limits of the adapters that can carry upgraded connections.
    ...(opt<number>(v, 'max-tunnels') !== undefined ? { maxTunnels: opt<number>(v, 'max-tunnels')! } : {}),
    ...(opt<number>(v, 'tunnel-idle-timeout') !== undefined ? { tunnelIdleTimeoutMs: opt<number>(v, 'tunnel-idle-timeout')! * 1000 } : {}),
  };
  // O7: the request limit and the queue past it, for every server.
  const queueOpts = {
    ...(opt<number>(v, 'max-concurrent') !== undefined ? { maxRequests: opt<number>(v, 'max-concurrent')! } : {}),
    // Seconds to ms, rounded up so that a small fraction is not 0 (no queue).
    ...(opt<number>(v, 'queue-timeout') !== undefined ? { queueTimeoutMs: Math.ceil(opt<number>(v, 'queue-timeout')! * 1000) } : {}),
  };
  const out: Running[] = [];
  for (const where of listeners) {
    if (s.command === 'http') {
      const { serveHttp } = await import('../server/http.js');
      const srv = await serveHttp(app, { ...common, ...where, ...queueOpts, accessLog: v['access-log'] === undefined });
      out.push({ close: (ms, h) => srv.close(ms, h), adopt: (sock, rest) => srv.adopt(sock, rest), text: where.fd !== undefined ? `fd ${where.fd}` : `http://${srv.host.includes(':') ? `[${srv.host}]` : srv.host}:${srv.port}/` });
      continue;
    }
    const socketOpts = { ...common, ...where, ...queueOpts };
    const srv = s.command === 'fastcgi'
      ? await (await import('../server/fastcgi.js')).serveFastCgi(app, { ...socketOpts, ...(v['no-multiplex'] === true ? { multiplex: false } : {}) })
      : s.command === 'scgi'
        ? await (await import('../server/scgi.js')).serveScgi(app, socketOpts)
        : await (await import('../server/uwsgi.js')).serveUwsgi(app, socketOpts);
    out.push({ close: (ms, h) => srv.close(ms, h), adopt: (sock, rest) => srv.adopt(sock, rest), text: srv.address.text });
  }
  return out;
}

/**
 * Serves `s` in this process. `loadApp` loads (and wraps) the app; it runs
 * after the privilege drop, so the app never runs as root.
 */
export async function serve(s: Settings, loadApp: () => Promise<App>, worker: WorkerInfo | null, version = ''): Promise<void> {
  const v = s.values;
  if (worker !== null) {
    // The master checked --user/--group and bound the sockets (as root, if it is): drop at once, so
    // that nothing here is opened as root; the master created the log files for the run user (P12).
    dropPrivileges(opt(v, 'user'), opt(v, 'group'));
  } else {
    checkPrivileges(opt(v, 'user'), opt(v, 'group')); // before anything is created or bound: a typo must leave nothing behind
  }
  const logFiles = openLogs(v);
  // O1, O2: the master asked for counts (--metrics, its control socket).
  const stats = worker?.stats === true ? new WorkerStats() : undefined;
  if (worker?.stackFd !== undefined) startStackProbe(worker.stackFd); // O4
  const tracker = new RequestTracker({
    accessLog: accessLog(),
    accessFormat: (opt<AccessFormat>(v, 'access-log-format') ?? 'combined'),
    requestTimeoutMs: (opt<number>(v, 'request-timeout') ?? 0) * 1000,
    ...(worker?.boardFd !== undefined ? { board: new InFlightBoard(worker.boardFd) } : {}),
    ...(stats !== undefined ? { stats } : {}),
    ...(worker !== null && worker.maxRequests > 0 ? {
      onFinished: (served: number) => {
        if (served === worker.maxRequests) send({ t: 'retire', served });
      },
    } : {}),
  });
  // The hook costs a wrapper per request: only when something needs it.
  if (stats !== undefined || worker?.boardFd !== undefined || (worker?.maxRequests ?? 0) > 0 || v['access-log'] !== undefined || v['request-timeout'] !== undefined) tracker.install();

  let listeners: ListenOptions[];
  let app: App;
  let running: Running[] = [];
  // P4, S5: a SIGTERM or SIGINT while the socket is being bound or the app loads is not the
  // default death, which would leave the socket file and the pid file behind: no request has
  // reached the app yet, so the listeners close (removing the socket file) and the process exits.
  const early = (sig: string) => (): void => {
    log('info', `${s.app} had not loaded yet when ${sig} came: closing the listeners and exiting`);
    for (const r of running) void r.close(0);
    removePid();
    process.exit(0);
  };
  const held = { SIGTERM: early('SIGTERM'), SIGINT: early('SIGINT') };
  const removePid = worker === null ? writePid(v) : () => {};
  if (worker === null) for (const [sig, h] of Object.entries(held)) process.on(sig, h);
  if (worker !== null) {
    listeners = Array.from({ length: worker.fds }, (_, i) => ({ fd: 3 + i }));
    app = await loadApp();
    running = await start(s, app, listeners, worker.multiprocess);
  } else {
    const fds = systemdFds();
    listeners = fds.length > 0 ? fds.map((fd) => ({ fd })) : [s.listen];
    // Bind first (as root, if that is who started us), then drop privileges and load the app:
    // requests that arrive in between wait for it.
    let loaded: App | undefined;
    let ready: (a: App) => void = () => {};
    const loading = new Promise<App>((r) => { ready = r; });
    app = (env, startResponse) => loaded !== undefined ? loaded(env, startResponse) : loading.then((a) => a(env, startResponse));
    try {
      running = await start(s, app, listeners, false);
    } catch (err) {
      removePid();
      throw err;
    }
    try {
      dropPrivileges(opt(v, 'user'), opt(v, 'group'));
    } catch (err) {
      // Never serve with privileges the drop did not shed: close (the socket file goes) and stop.
      for (const r of running) void r.close(0);
      removePid();
      throw err;
    }
    loaded = await loadApp();
    ready(loaded);
  }

  let stopping: Promise<void> | undefined;
  /** `handoff` (P11): a new worker takes over; idle connections go to the master instead of closing. */
  const stop = (why: string, code: number, handoff = false): Promise<void> => {
    stopping ??= (async () => {
      // The servers wait up to --graceful-timeout, then close what is left (and say so);
      // the timer here only guards against an app that holds the stop for ever.
      const graceful = Promise.all(running.map((r, l) => r.close(s.gracefulMs, handoff ? handOff(l) : undefined)));
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), s.gracefulMs + 2000).unref());
      if (await Promise.race([graceful.then(() => 'done' as const), timer]) === 'timeout') {
        log('warn', `${why}: requests still running after --graceful-timeout ${s.gracefulMs / 1000} s, stopped: ${tracker.describe().join('; ')}`);
      }
      // P11: a connection's message must be on its way (the kernel then holds it) before this
      // process exits: closing the last reference to it would reset it under the web server.
      // Node sends one handle at a time (each waits for the master's acknowledgement), so a busy
      // master can take a while: up to the graceful timeout.
      if (sending.size > 0) {
        const sent = await Promise.race([Promise.all(sending).then(() => true), new Promise<false>((r) => setTimeout(() => r(false), s.gracefulMs).unref())]);
        if (!sent) log('warn', `${why}: ${sending.size} connection(s) not handed to the master within --graceful-timeout; closing them`);
      }
      // O1: the last counts reach the master before the exit (the pool's totals keep them).
      if (stats !== undefined && process.connected) {
        await new Promise<void>((resolve) => {
          process.send!(stats.report(tracker.inFlight), undefined, {}, () => resolve());
          setTimeout(resolve, 1000).unref();
        });
      }
      removePid();
      process.exit(code);
    })();
    return stopping;
  };
  const send = (m: WorkerMessage): void => {
    if (process.connected) process.send!(m);
  };
  /** Handoffs whose message is not yet written: until then this process holds the only reference. */
  const sending = new Set<Promise<void>>();
  /** P11: gives a connection of listener `l` to the master, with what was read ahead from it. */
  const handOff = (l: number): Handoff => (socket, rest) => {
    if (!process.connected) { socket.destroy(); return; }
    const m: WorkerMessage = { t: 'handoff', l, data: rest.toString('base64') };
    const sent = new Promise<void>((resolve) => {
      process.send!(m, socket, {}, (err) => {
        if (err) { log('warn', `could not hand a connection to the master: ${err.message}`); socket.destroy(); }
        resolve();
      });
    });
    sending.add(sent);
    void sent.then(() => sending.delete(sent));
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
    process.on('message', (m: MasterMessage, handle?: unknown) => {
      if (m.t === 'ping') send({ t: 'pong', inFlight: tracker.inFlight.size ? tracker.describe() : [], rss: process.memoryUsage.rss() });
      else if (m.t === 'stats' && stats !== undefined) send(stats.report(tracker.inFlight));
      else if (m.t === 'stop') void stop(m.handoff === true ? 'retire' : 'stop', 0, m.handoff === true);
      else if (m.t === 'adopt' && handle !== undefined) {
        // P11: a connection another worker gave up; if this one is retiring too, its server passes it on.
        (running[m.l] ?? running[0]!).adopt(handle as Socket, Buffer.from(m.data, 'base64'));
      }
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
  for (const [sig, h] of Object.entries(held)) process.off(sig, h);
  process.on('SIGHUP', () => log('warn', 'SIGHUP: a reload needs a master process (--workers N); ignored'));
  // Said last: once this line is out, the signals above are handled.
  log('info', `tsgi ${version} on Node ${process.version}: ${s.command} ${s.app} on ${running.map((r) => r.text).join(', ')}, one process (no --workers), pid ${process.pid}: serving`);
}
