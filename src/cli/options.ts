/**
 * The command line and the config file: one table of options, which commands
 * each applies to, how its value is checked, and its help line. The command
 * line wins over `--config FILE`; an option (or config key) that does not
 * apply to the command, is unknown, or has a value of the wrong type is a
 * usage error that names it (exit 2).
 */
import { dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { dynamicImport } from '../contract/dynamic-import.js';
import { parseOffload } from '../gateway/offload.js';
import { parseAppSpec } from './load-app.js';

/** The commands that take options. */
export type Command = 'http' | 'cgi' | 'fastcgi' | 'uwsgi' | 'scgi' | 'check';

/** A command-line mistake: printed as one line (plus a hint) and exit status 2. */
export class UsageError extends Error {
  /** The command whose help to point at, if known. */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

type Kind = 'string' | 'bool' | 'int' | 'seconds' | 'bytes' | 'workers' | 'level' | 'format' | 'bind' | 'offload';

interface Spec {
  kind: Kind;
  arg?: string;
  for: readonly Command[];
  help: string;
  /** Where one command does something else than `help` says. */
  helpFor?: Partial<Record<Command, string>>;
  /** A file path: relative in a config file, it is taken from that file's directory (P14). */
  path?: boolean;
}

const SERVERS: readonly Command[] = ['http', 'fastcgi', 'uwsgi', 'scgi', 'check'];
const SOCKETS: readonly Command[] = ['fastcgi', 'uwsgi', 'scgi', 'check'];
const ALL: readonly Command[] = ['http', 'cgi', 'fastcgi', 'uwsgi', 'scgi', 'check'];

/** Every option: its name is also its config-file key. */
export const OPTIONS: Record<string, Spec> = {
  bind: { kind: 'bind', arg: 'HOST:PORT', for: SERVERS, help: 'listen on TCP (http: default 127.0.0.1:8000)' },
  port: { kind: 'int', arg: 'N', for: SERVERS, help: 'listen on TCP port N of 127.0.0.1 (http: also the PORT variable)' },
  socket: { kind: 'string', arg: 'PATH', for: SOCKETS, path: true, help: 'listen on a unix socket (its directory is created; a stale file is replaced)' },
  chmod: { kind: 'string', arg: 'MODE', for: SOCKETS, help: 'mode of that socket file, octal (e.g. 660)' },
  chown: { kind: 'string', arg: 'USER[:GROUP]', for: SOCKETS, help: 'owner of that socket file (root only)' },
  backlog: { kind: 'int', arg: 'N', for: SERVERS, help: 'connections the kernel queues before a worker accepts them (default 2048, capped by net.core.somaxconn)' },
  mount: { kind: 'string', arg: 'PREFIX', for: SERVERS, help: 'URL prefix the app lives under: becomes SCRIPT_NAME' },
  'no-multiplex': { kind: 'bool', for: ['fastcgi', 'check'], help: 'one request at a time per connection (FCGI_CANT_MPX_CONN)' },
  'stream-bodies': { kind: 'bool', for: SERVERS, help: "start the app once the head is in; it reads the body as it arrives from environ['tsgi.input'] (wsgi.input then refuses synchronous reads)" },
  'max-body': { kind: 'bytes', arg: 'BYTES', for: ALL, help: 'largest request body, e.g. 10m (413 past it; default 100m)' },
  'max-concurrent': {
    kind: 'int', arg: 'N', for: SERVERS, help: 'requests in flight at once per worker (default 1024)',
    helpFor: {
      http: 'apps running at once per worker; past it a request waits (--queue-timeout), then gets 503 (default 1024)',
      fastcgi: 'requests in flight at once per worker; past it a request waits (--queue-timeout), and past the queue it is refused with FCGI_OVERLOADED (default 1024)',
      uwsgi: 'requests in flight at once per worker; past it a request waits (--queue-timeout), and past the queue a new connection is closed unread, which the web server answers 502 (default 1024)',
      scgi: 'requests in flight at once per worker; past it a request waits (--queue-timeout), and past the queue a new connection is closed unread, which the web server answers 502 (default 1024)',
    },
  },
  'queue-timeout': {
    kind: 'seconds', arg: 'S', for: SERVERS,
    help: 'past --max-concurrent, a request waits up to S seconds for a slot, then gets 503 (0: refused at once; default 5)',
  },
  'max-tunnels': { kind: 'int', arg: 'N', for: ['http', 'uwsgi', 'scgi', 'check'], help: 'upgraded connections (WebSockets) open at once per worker; past it an upgrade is answered 503 (default 512)' },
  'tunnel-idle-timeout': { kind: 'seconds', arg: 'S', for: ['http', 'uwsgi', 'scgi', 'check'], help: 'close an upgraded connection with no byte either way for S seconds (default 300)' },
  workers: { kind: 'workers', arg: 'N|auto|MIN:MAX', for: SERVERS, help: 'worker processes under a master (auto: one per CPU; MIN:MAX: grow on load, shrink when idle)' },
  'idle-timeout': { kind: 'seconds', arg: 'S', for: SERVERS, help: 'with --workers MIN:MAX, retire one worker after S seconds of low load (default 30)' },
  'max-workers': { kind: 'int', arg: 'N', for: SERVERS, help: 'most workers SIGTTIN may grow the pool to (default: 4 per CPU, at least --workers)' },
  'max-requests': { kind: 'int', arg: 'N', for: SERVERS, help: 'replace a worker after it has served N requests' },
  'max-requests-jitter': { kind: 'int', arg: 'N', for: SERVERS, help: 'plus a random 0..N, so that workers do not all restart at once' },
  timeout: { kind: 'seconds', arg: 'S', for: SERVERS, help: 'kill a worker whose event loop is stuck for S seconds' },
  'request-timeout': { kind: 'seconds', arg: 'S', for: SERVERS, help: 'abort a request still running after S seconds (504)' },
  'slow-log': { kind: 'seconds', arg: 'S', for: SERVERS, help: 'log the JavaScript stack of a worker whose request runs longer than S seconds (once per request)' },
  'max-memory': { kind: 'int', arg: 'MiB', for: SERVERS, help: 'replace a worker, gracefully, once its resident memory passes MiB' },
  'graceful-timeout': { kind: 'seconds', arg: 'S', for: SERVERS, help: 'on stop or reload, time to finish in-flight requests (default 30)' },
  user: { kind: 'string', arg: 'USER', for: SERVERS, help: 'run the app as USER after binding (root only)' },
  group: { kind: 'string', arg: 'GROUP', for: SERVERS, help: 'run the app as GROUP after binding (root only)' },
  pid: { kind: 'string', arg: 'FILE', for: SERVERS, path: true, help: 'write the (master) process id there; removed on exit' },
  metrics: { kind: 'string', arg: 'HOST:PORT|PATH', for: SERVERS, help: 'serve the pool\'s Prometheus metrics at /metrics there (implies a master)' },
  control: { kind: 'string', arg: 'PATH|off', for: SERVERS, path: true, help: 'the master\'s control socket, mode 600, for tsgi status, reload, stop, scale (default: next to the pid file, else to the unix socket)' },
  'access-log': { kind: 'string', arg: 'PATH|-', for: SERVERS, path: true, help: 'one line per request there (- : standard output); off by default' },
  'access-log-format': { kind: 'format', arg: 'combined|json', for: SERVERS, help: 'Apache combined plus duration in µs (default), or JSON' },
  'error-log': { kind: 'string', arg: 'PATH|-', for: ALL, path: true, help: 'where log lines go (default - : standard error)' },
  'log-level': { kind: 'level', arg: 'LEVEL', for: ALL, help: 'error, warn, info (default) or debug' },
  reload: { kind: 'bool', for: ['http', 'check'], help: 'restart when a file under the app\'s directory changes (development)' },
  offload: { kind: 'offload', arg: 'nginx:PREFIX|sendfile', for: ALL, help: 'whole files (wsgi.file_wrapper, staticFiles) leave as X-Accel-Redirect: PREFIX/path (nginx internal location) or X-Sendfile (Apache mod_xsendfile), sent by the web server' },
  validate: { kind: 'bool', for: ALL, help: 'check every request and response against the contract (development)' },
  interface: { kind: 'string', arg: 'KIND', for: ALL, help: 'what APP exports: auto (default: told by its shape), environ, node ((req, res): Express, Koa, Fastify; an http.Server) or fetch (Hono, { fetch })' },
  config: { kind: 'string', arg: 'FILE', for: ALL, help: 'read options from FILE (.json, .js, .mjs); the command line wins' },
};

/** A parsed value. */
export type Value = string | number | boolean | { host: string; port: number };
/** Option name → value, after the config file and the command line were merged. */
export type Values = Record<string, Value>;

const SUMMARY: Record<Command | 'status', string> = {
  http: 'http APP      the HTTP server (development, or behind a proxy_pass)',
  cgi: 'cgi APP       answer the one CGI request of this process',
  fastcgi: 'fastcgi APP   FastCGI server (nginx fastcgi_pass, Apache mod_proxy_fcgi, mod_fcgid);\n                without --socket or --bind, the listening socket on fd 0',
  uwsgi: 'uwsgi APP     uwsgi protocol server (nginx uwsgi_pass, Apache mod_proxy_uwsgi)',
  scgi: 'scgi APP      SCGI server (nginx scgi_pass, Apache mod_proxy_scgi, lighttpd mod_scgi)',
  status: 'status|reload|stop|scale N [--control PATH | --pid FILE | --socket PATH | --config FILE] [--json]\n                ask a running master (its control socket): the pool, a reload, a stop, N workers',
  check: 'check [http|fastcgi|uwsgi|scgi] APP\n                run the checks that start runs (users, paths, permissions, loading the app),\n                print the resolved settings, exit non-zero where the start would fail',
};

/** Option lines, `--name ARG` then its help, the help column wide enough for the longest (a space at least). */
function optionLines(entries: [string, string][]): string[] {
  const width = Math.max(...entries.map(([left]) => left.length)) + 2;
  return entries.map(([left, help]) => `${left.padEnd(width)}${help}`);
}

const helpOf = (s: Spec, command: Command): string => s.helpFor?.[command] ?? s.help;

/** `tsgi --help`: the commands, then every option with the commands it applies to. */
export function usage(): string {
  const servers: Command[] = ['http', 'cgi', 'fastcgi', 'uwsgi', 'scgi'];
  const entries: [string, string][] = Object.entries(OPTIONS).map(([name, s]) => {
    const which = servers.filter((c) => s.for.includes(c));
    const scope = which.length === servers.length ? '' : ` [${which.join(', ')}]`;
    return [`  --${name}${s.arg ? ` ${s.arg}` : ''}`, `${s.help}${scope}`];
  });
  entries.push(['  -h, --help', 'this text (tsgi COMMAND --help: that command\'s options only)'], ['  -v, --version', 'tsgi\'s and Node\'s versions']);
  return `usage: tsgi COMMAND APP [options]

APP is path/to/module[:name] (default export, else "application", else "app").

commands:
${(Object.keys(SUMMARY) as (keyof typeof SUMMARY)[]).map((c) => `  ${SUMMARY[c].replace(/\n/g, '\n  ')}`).join('\n')}

options ([…]: the commands an option applies to, when not all):
${optionLines(entries).join('\n')}
`;
}

/** `tsgi COMMAND --help`: that command's options only. */
export function commandUsage(command: Command): string {
  const entries: [string, string][] = Object.entries(OPTIONS)
    .filter(([, s]) => s.for.includes(command))
    .map(([name, s]) => [`  --${name}${s.arg ? ` ${s.arg}` : ''}`, helpOf(s, command)]);
  entries.push(['  -h, --help', 'this text']);
  return `usage: tsgi ${SUMMARY[command].replace(/\n/g, '\n  ')}

options:
${optionLines(entries).join('\n')}
`;
}

/** Checks and converts one value (from the command line: a string; from a config file: its JSON type). */
function convert(name: string, raw: unknown, from: string): Value {
  const spec = OPTIONS[name]!;
  const bad = (expected: string): never => {
    throw new UsageError(from === '-' ? `--${name} ${String(raw)}: expected ${expected}`
      : `${from} "${name}": ${JSON.stringify(raw)} is not ${expected}`);
  };
  switch (spec.kind) {
    case 'bool':
      if (typeof raw !== 'boolean') bad('true or false');
      return raw as boolean;
    case 'string':
      if (typeof raw !== 'string' || raw === '') bad('a non-empty string');
      return raw as string;
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n) || n < 0) bad('a whole number');
      if (name === 'port' && n > 65535) bad('a port (0-65535)');
      if ((name === 'max-requests' || name === 'max-concurrent' || name === 'max-memory' || name === 'backlog') && n < 1) bad('a positive whole number');
      return n;
    }
    case 'seconds': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isFinite(n) || n < 0) bad('a number of seconds');
      if (name === 'slow-log' && n === 0) bad('a number of seconds above 0');
      return n;
    }
    case 'bytes': {
      if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return raw;
      const m = typeof raw === 'string' ? /^(\d+)([kmg]i?b?)?$/i.exec(raw.trim()) : null;
      if (!m) return bad('a byte count such as 1048576, 512k or 100m');
      const unit = (m[2] ?? '').charAt(0).toLowerCase();
      return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
    }
    case 'workers': {
      // node:os loaded only here: the CLI's start (a CGI request's) does not pay for it.
      if (raw === 'auto') return process.getBuiltinModule('node:os').availableParallelism();
      // O5: MIN:MAX, kept as the text "MIN:MAX" once checked (workerRange() reads it).
      const range = typeof raw === 'string' ? /^(\d+):(\d+)$/.exec(raw.trim()) : null;
      if (range) {
        const [min, max] = [Number(range[1]), Number(range[2])];
        if (min === 0) {
          throw new UsageError(from === '-' ? `--workers ${raw}: workers started on demand (MIN 0) are not supported; give MIN 1 or more`
            : `${from} "${name}": "${raw}" has MIN 0 (workers started on demand), which is not supported; give MIN 1 or more`);
        }
        if (!Number.isSafeInteger(max) || min > max) bad('MIN:MAX with MIN at most MAX');
        return `${min}:${max}`;
      }
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n) || n < 1) bad('a number of workers (1 or more), auto or MIN:MAX');
      return n;
    }
    case 'level':
      if (!['error', 'warn', 'info', 'debug'].includes(raw as string)) bad('error, warn, info or debug');
      return raw as string;
    case 'format':
      if (raw !== 'combined' && raw !== 'json') bad('combined or json');
      return raw as string;
    case 'offload':
      if (typeof raw !== 'string') bad('nginx:PREFIX or sendfile');
      try {
        parseOffload(raw as string);
      } catch (err) {
        throw new UsageError(from === '-' ? `--${(err as Error).message}` : `${from} "${name}": ${(err as Error).message}`);
      }
      return raw as string;
    case 'bind':
      if (typeof raw !== 'string') bad('HOST:PORT');
      return parseBind(raw as string) ?? bad('HOST:PORT');
  }
}

/** Parses HOST:PORT, [v6]:PORT, :PORT or PORT. */
export function parseBind(bind: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(bind) ?? /^()()(\d+)$/.exec(bind);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

/** The command line, split: positionals and the options given (converted). */
export function parseArgv(command: Command, args: string[]): { positionals: string[]; values: Values; help: boolean } {
  const positionals: string[] = [];
  const values: Values = {};
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-h' || a === '--help') { help = true; continue; }
    if (a === '--') { positionals.push(...args.slice(i + 1)); break; }
    if (!a.startsWith('-') || a === '-') { positionals.push(a); continue; }
    if (!a.startsWith('--')) throw new UsageError(`unknown option ${a}`, command);
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const spec = OPTIONS[name];
    if (spec === undefined) throw new UsageError(`unknown option --${name}`, command);
    if (!spec.for.includes(command)) throw new UsageError(`--${name} does not apply to tsgi ${command}`, command);
    if (spec.kind === 'bool') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`, command);
      values[name] = true;
      continue;
    }
    const v = eq >= 0 ? a.slice(eq + 1) : args[++i];
    if (v === undefined) throw new UsageError(`--${name} needs a value (${spec.arg ?? 'VALUE'})`, command);
    values[name] = convert(name, v, '-');
  }
  return { positionals, values, help };
}

/**
 * Reads a config file: a JSON object, or a module whose default export is
 * one. Keys are the option names (`"workers": 4`, `"max-requests": 1000`),
 * plus `app`. A relative path in it (`app`, `socket`, `pid`, the logs) is
 * taken from the file's own directory, not from wherever tsgi is started
 * (P14): the same file means the same thing from systemd, a shell or cron.
 */
export async function readConfig(file: string, command: Command): Promise<{ values: Values; app: string | undefined }> {
  const path = resolve(file);
  let data: unknown;
  try {
    if (extname(path) === '.json') data = JSON.parse(readFileSync(path, 'utf8'));
    else {
      const url = `${pathToFileURL(path).href}?t=${Date.now()}`; // a reload reads the file afresh
      data = ((await dynamicImport(url)) as { default?: unknown }).default;
    }
  } catch (err) {
    throw new UsageError(`--config ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new UsageError(`--config ${file}: expected an object of options`);
  const values: Values = {};
  const base = dirname(path);
  let app: string | undefined;
  for (const [key, raw] of Object.entries(data)) {
    if (key === 'app') {
      if (typeof raw !== 'string' || raw === '') throw new UsageError(`--config ${file}: "app" must be a string (path/to/module[:name])`);
      const spec = parseAppSpec(raw);
      app = `${resolve(base, spec.path)}${spec.name !== undefined ? `:${spec.name}` : ''}`;
      continue;
    }
    const spec = OPTIONS[key];
    if (spec === undefined || key === 'config') throw new UsageError(`--config ${file}: unknown key "${key}"`);
    if (!spec.for.includes(command)) throw new UsageError(`--config ${file}: "${key}" does not apply to tsgi ${command}`);
    const value = convert(key, raw, `--config ${file}:`);
    values[key] = spec.path === true && value !== '-' ? resolve(base, value as string) : value;
  }
  return { values, app };
}

/** O5: `--workers MIN:MAX` as numbers (a fixed `--workers N` is N:N); undefined when --workers is not given. */
export function workerRange(values: Values): { min: number; max: number } | undefined {
  const w = values.workers;
  if (typeof w === 'number') return { min: w, max: w };
  if (typeof w !== 'string') return undefined;
  const [min, max] = w.split(':').map(Number) as [number, number];
  return { min, max };
}
