/**
 * `tsgi COMMAND APP [options]`. Each command's module is imported only when
 * that command runs, so `tsgi cgi` loads nothing the HTTP server needs.
 */
import { parseArgs } from 'node:util';
import { GatewayError } from '../contract/errors.js';
import { log, setLogger, type Level } from '../contract/log.js';
import { dynamicImport } from '../contract/dynamic-import.js';
import type { App } from '../contract/types.js';
import { loadApp } from './load-app.js';

const USAGE = `usage: tsgi COMMAND APP [options]

APP is path/to/module[:name] (default export, else "application", else "app").
A .ts module is loaded through tsx.

commands:
  http APP [--bind HOST:PORT] [--mount PREFIX]   dev HTTP server (default 127.0.0.1:8000)
  cgi APP                                        answer the one CGI request of this process
  fastcgi APP [--socket PATH | --bind HOST:PORT] FastCGI server (nginx fastcgi_pass, Apache
                                                 mod_proxy_fcgi); with neither, the listening
                                                 socket on fd 0 (mod_fcgid, spawn-fcgi)
  uwsgi APP (--socket PATH | --bind HOST:PORT)   uwsgi protocol server (nginx uwsgi_pass,
                                                 Apache mod_proxy_uwsgi)

options:
  --bind HOST:PORT     where to listen (TCP)
  --socket PATH        unix socket to listen on (fastcgi, uwsgi); a stale one is replaced
  --chmod MODE         mode of that socket, octal (e.g. 660)
  --mount PREFIX       URL prefix the app lives under: becomes SCRIPT_NAME
  --no-multiplex       fastcgi: one request at a time per connection (FCGI_CANT_MPX_CONN)
  --max-body BYTES     largest request body (413 past it)
  --max-requests N     requests in flight at once (fastcgi: FCGI_OVERLOADED past it)
  --log-level LEVEL    error, warn, info (default) or debug
  --validate           check every request and response against the contract
                       (validate() from tsgi/middleware): for development
  -h, --help           this text
  --version            the version
`;

function fail(message: string): never {
  process.stderr.write(`tsgi: ${message}\n`);
  process.exit(2);
}

/** Parses HOST:PORT, [v6]:PORT, :PORT or PORT. */
export function parseBind(bind: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(bind) ?? /^()()(\d+)$/.exec(bind);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) fail(`--bind ${bind}: expected HOST:PORT`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

function bytes(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)([kmg]i?b?)?$/i.exec(v.trim());
  if (!m) fail(`${what} ${v}: expected a byte count such as 1048576, 512k or 100m`);
  const unit = (m[2] ?? '').charAt(0).toLowerCase();
  return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
}

/** `tsgi cgi APP`: answers this process's one request. */
async function cgi(spec: string, maxBody: number | undefined, check = false): Promise<void> {
  const { runCgi } = await import('../server/cgi.js');
  await runCgi(await appFor(spec, check), maxBody === undefined ? {} : { maxBodyBytes: maxBody });
}

/** Loads the app; with --validate, wrapped in validate() (loaded only then: it is a separate bundle). */
async function appFor(spec: string, check: boolean): Promise<App> {
  const app = await loadApp(spec);
  if (!check) return app;
  const { validate } = await dynamicImport<typeof import('../middleware/validate.js')>('tsgi/middleware');
  return validate(app);
}

/** Set by the build from package.json. */
declare const __TSGI_VERSION__: string;
const VERSION = typeof __TSGI_VERSION__ === 'string' ? __TSGI_VERSION__ : '0.0.0-dev';

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  // The common CGI case, `tsgi cgi APP`, skips option parsing: start-up is its cost.
  if (command === 'cgi' && rest.length === 1 && !rest[0]!.startsWith('-')) return cgi(rest[0]!, undefined);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        bind: { type: 'string' },
        mount: { type: 'string' },
        socket: { type: 'string' },
        chmod: { type: 'string' },
        'no-multiplex': { type: 'boolean' },
        'max-body': { type: 'string' },
        'max-requests': { type: 'string' },
        'log-level': { type: 'string' },
        validate: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) { process.stdout.write(USAGE); return; }
  const level = values['log-level'];
  if (level !== undefined) {
    if (!['error', 'warn', 'info', 'debug'].includes(level)) fail(`--log-level ${level}: expected error, warn, info or debug`);
    setLogger(null, level as Level);
  }
  const spec = positionals[0];
  if (spec === undefined) fail(`${command}: APP is missing\n\n${USAGE}`);
  if (positionals.length > 1) fail(`${command}: unexpected argument ${positionals[1]}`);
  const maxBody = bytes(values['max-body'], '--max-body');

  switch (command) {
    case 'cgi':
      return cgi(spec, maxBody, values.validate === true);
    case 'http': {
      const { serveHttp } = await import('../server/http.js');
      const { host, port } = parseBind(values.bind ?? '127.0.0.1:8000');
      const app = await appFor(spec, values.validate === true);
      const srv = await serveHttp(app, {
        host, port,
        ...(values.mount !== undefined ? { mount: values.mount } : {}),
        ...(maxBody !== undefined ? { maxBodyBytes: maxBody } : {}),
      });
      const shown = srv.host.includes(':') ? `[${srv.host}]` : srv.host;
      process.stderr.write(`tsgi: serving ${spec} on http://${shown}:${srv.port}/ (dev server)\n`);
      stopOnSignals(() => srv.close(GRACEFUL_MS));
      return;
    }
    case 'fastcgi':
    case 'uwsgi': {
      if (values.socket !== undefined && values.bind !== undefined) fail(`${command}: give --socket or --bind, not both`);
      if (values.chmod !== undefined && values.socket === undefined) fail('--chmod applies to --socket only');
      if (values['no-multiplex'] && command !== 'fastcgi') fail('--no-multiplex applies to fastcgi only');
      if (command === 'uwsgi' && values.socket === undefined && values.bind === undefined) fail('uwsgi: give --socket PATH or --bind HOST:PORT');
      const where = values.socket !== undefined ? { socket: values.socket, ...(values.chmod !== undefined ? { chmod: values.chmod } : {}) }
        : values.bind !== undefined ? parseBind(values.bind) : {};
      const maxRequests = values['max-requests'] === undefined ? undefined : Number(values['max-requests']);
      if (maxRequests !== undefined && !(Number.isInteger(maxRequests) && maxRequests > 0)) fail(`--max-requests ${values['max-requests']}: expected a positive integer`);
      const opts = {
        ...where,
        ...(values.mount !== undefined ? { mount: values.mount } : {}),
        ...(maxBody !== undefined ? { maxBodyBytes: maxBody } : {}),
        ...(maxRequests !== undefined ? { maxRequests } : {}),
      };
      const app = await appFor(spec, values.validate === true);
      let srv;
      if (command === 'fastcgi') {
        const { serveFastCgi } = await import('../server/fastcgi.js');
        srv = await serveFastCgi(app, { ...opts, ...(values['no-multiplex'] ? { multiplex: false } : {}) });
      } else {
        const { serveUwsgi } = await import('../server/uwsgi.js');
        srv = await serveUwsgi(app, opts);
      }
      log('info', `${command}: serving ${spec} on ${srv.address.text}`);
      stopOnSignals(() => srv.close(GRACEFUL_MS));
      return;
    }
    default:
      fail(`unknown command "${command}"\n\n${USAGE}`);
  }
}

/** How long a stop waits for in-flight requests before closing their connections (S6). */
const GRACEFUL_MS = 30_000;

/** S6: SIGTERM (or SIGINT) stops accepting, lets in-flight requests finish, then exits 0. */
function stopOnSignals(close: () => Promise<void>): void {
  const stop = (sig: string): void => {
    log('info', `${sig}: finishing in-flight requests`);
    close().then(() => process.exit(0), (err: unknown) => {
      log('error', `stopping: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** Runs the tsgi command line (`argv` without node and the script). */
export function main(argv: string[]): Promise<void> {
  return run(argv).catch((err: unknown) => {
    const msg = err instanceof GatewayError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`tsgi: ${msg}\n`);
    process.exit(1);
  });
}
