/**
 * O2, O3: `tsgi status`, `tsgi reload`, `tsgi stop`, `tsgi scale N`: one
 * request on the master's control socket (server/arbiter/control.ts), the
 * outcome printed, exit 0 when it happened and 1 (with one line saying why)
 * when not. The socket is found as the master found it: `--control PATH`, or
 * from the `--pid`, `--socket` or `--config` the master was started with.
 */
import * as net from 'node:net';
import { controlPath } from './operate-options.js';
import { readConfig, UsageError, type Values } from './options.js';

/** The commands this file answers. */
export const CONTROL_COMMANDS = ['status', 'reload', 'stop', 'scale'] as const;
type ControlCommand = (typeof CONTROL_COMMANDS)[number];

/** Longest reply read (a status of a large pool fits with room to spare). */
const MAX_REPLY = 4 * 1024 * 1024;

const HELP = `usage: tsgi status|reload|stop|scale N [options]

  status     the pool: generation, and per worker pid, state, requests, requests in flight, RSS, event-loop use
  reload     as SIGHUP: a new generation; waits until it serves (or failed: exit 1)
  stop       as SIGTERM: a graceful stop; waits until the master is gone
  scale N    as SIGTTIN/SIGTTOU: N workers; waits until N are ready

options (the first given finds the control socket):
  --control PATH   the control socket
  --pid FILE       the master's --pid (the socket is FILE without .pid, plus .ctl)
  --socket PATH    the master's --socket (the socket is PATH without .sock, plus .ctl)
  --config FILE    the master's --config (its control, pid or socket)
  --json           status: the pool as JSON
  -h, --help       this text
`;

interface Parsed { cmd: ControlCommand; n?: number; values: Values; config?: string; json: boolean; help: boolean }

function parse(cmd: ControlCommand, args: string[]): Parsed {
  const out: Parsed = { cmd, values: {}, json: false, help: false };
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-h' || a === '--help') { out.help = true; continue; }
    if (a === '--json') { out.json = true; continue; }
    const m = /^--(control|pid|socket|config)(?:=(.*))?$/.exec(a);
    if (m) {
      const v = m[2] ?? args[++i];
      if (v === undefined || v === '') throw new UsageError(`--${m[1]} needs a value`, cmd);
      if (m[1] === 'config') out.config = v; else out.values[m[1]!] = v;
      continue;
    }
    if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`, cmd);
    positionals.push(a);
  }
  if (out.help) return out;
  if (cmd === 'scale') {
    if (positionals.length !== 1 || !/^\d+$/.test(positionals[0]!) || Number(positionals[0]) < 1) throw new UsageError('scale needs a number of workers, 1 or more: tsgi scale N', cmd);
    out.n = Number(positionals[0]);
  } else if (positionals.length > 0) {
    throw new UsageError(`unexpected argument ${positionals[0]}`, cmd);
  }
  if (out.json && cmd !== 'status') throw new UsageError('--json applies to tsgi status', cmd);
  return out;
}

/** Sends one request; resolves with the reply and whether the connection then closed without one. */
function ask(path: string, req: Record<string, unknown>, onReply: (r: Record<string, unknown>) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path);
    let buf = '';
    let replied = false;
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (d: Buffer) => {
      if (replied) return;
      buf += d.toString('utf8');
      if (buf.length > MAX_REPLY) { sock.destroy(); reject(new Error('the reply is too long')); return; }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      replied = true;
      try { onReply(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>); } catch (err) { sock.destroy(); reject(err); }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? `no master answers on ${path} (${err.code}): is it running, with this --control/--pid/--socket?`
        : err.code === 'EACCES' ? `${path}: permission denied: the control socket belongs to the user who started the master (root, if it started as root)`
          : `${path}: ${err.message}`;
      reject(new Error(why));
    });
    sock.on('close', () => (replied ? resolve() : reject(new Error(`the master closed ${path} without an answer`))));
  });
}

const mib = (n: unknown): string => (typeof n === 'number' ? `${(n / 1048576).toFixed(1)} MiB` : '-');
const pct = (n: unknown): string => (typeof n === 'number' ? `${(n * 100).toFixed(1)}%` : '-');
const show = (v: unknown): string => (v === null || v === undefined ? '-' : String(v));

/** `tsgi status` as text. */
export function statusText(r: Record<string, unknown>): string {
  const m = r.master as Record<string, unknown>;
  const reqs = r.requests as Record<string, number>;
  const workers = r.workers as Record<string, unknown>[];
  const lines = [
    `master pid ${show(m.pid)}, up ${show(m.uptime)} s, generation ${show(m.generation)}${m.reloading !== null ? ` (reloading to ${show(m.reloading)})` : ''}${m.stopping === true ? ', stopping' : ''}`,
    `workers: ${workers.length} (target ${show(m.target)}${typeof m.autoscale === 'string' ? `, adapting within ${show(m.autoscale)}` : ''}, max ${show(m.maxWorkers)})`,
    `requests: ${Object.entries(reqs).map(([c, n]) => `${c} ${n}`).join(', ')}`,
    '',
  ];
  const rows = [['WORKER', 'PID', 'GEN', 'STATE', 'REQUESTS', 'IN FLIGHT', 'RSS', 'EVENT LOOP']];
  for (const w of workers) rows.push([show(w.id), show(w.pid), show(w.generation), show(w.state), show(w.requests), show(w.inFlight), mib(w.rss), pct(w.elu)]);
  const width = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  rows.forEach((row, i) => {
    lines.push(row.map((c, j) => c.padEnd(width[j]!)).join('  ').trimEnd());
    const w = workers[i - 1];
    for (const f of (w?.requestsInFlight as Record<string, unknown>[] | undefined) ?? []) lines.push(`    ${show(f.method)} ${show(f.path)} (running ${Number(f.age).toFixed(1)} s)`);
  });
  return `${lines.join('\n')}\n`;
}

/** Runs `tsgi status|reload|stop|scale`; `args` follow the command. */
export async function control(cmd: ControlCommand, args: string[]): Promise<void> {
  const p = parse(cmd, args);
  if (p.help) { process.stdout.write(HELP); return; }
  let values = p.values;
  if (p.config !== undefined && values.control === undefined && values.pid === undefined && values.socket === undefined) {
    values = (await readConfig(p.config, 'check')).values;
  }
  const path = controlPath(values);
  if (path === undefined) throw new UsageError('which master? give --control PATH, or the --pid, --socket or --config it was started with', cmd);
  let failed: string | null = null;
  const done = ask(path, { cmd, ...(p.n !== undefined ? { n: p.n } : {}) }, (r) => {
    if (r.ok !== true) { failed = typeof r.error === 'string' ? r.error : 'failed'; return; }
    if (cmd === 'status') process.stdout.write(p.json ? `${JSON.stringify(r, null, 2)}\n` : statusText(r));
    else process.stdout.write(`${String(r.message)}\n`);
  });
  try {
    await done;
  } catch (err) {
    process.stderr.write(`tsgi ${cmd}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  if (failed !== null) {
    process.stderr.write(`tsgi ${cmd}: ${failed}\n`);
    process.exit(1);
  }
  // The master keeps the connection of a stop open until it exits: its close is the outcome.
  if (cmd === 'stop') process.stdout.write('stopped\n');
}
