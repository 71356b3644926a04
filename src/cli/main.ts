/**
 * `tsgi COMMAND APP [options]`. Each command's module is imported only when
 * that command runs, so `tsgi cgi` loads nothing the servers need. The
 * options, the config file and the help live in options.ts; a server with
 * `--workers` runs as a master (master.ts) over worker processes (serve.ts).
 */
import { GatewayError } from '../contract/errors.js';
import { dynamicImport } from '../contract/dynamic-import.js';
import type { App } from '../contract/types.js';
import { DEFAULT_GC_PACE, setGcPace } from '../gateway/gc-pacer.js';
import { dropProxyHeader, restartWithoutProxy } from '../server/cgi-proxy.js';
import { INTERFACES, loadApp, type Interface } from './load-app.js';
import { commandUsage, OPTIONS, usage, UsageError, type Command, type Values } from './options.js';
import { opt, resolveArgs, serverSettings, type Settings } from './settings.js';

const COMMANDS: readonly Command[] = ['http', 'cgi', 'fastcgi', 'uwsgi', 'scgi', 'check'];
type ServerCommand = Settings['command'];
const SERVER_COMMANDS: readonly ServerCommand[] = ['http', 'fastcgi', 'uwsgi', 'scgi'];

/** `tsgi cgi APP`: answers this process's one request. */
async function cgi(spec: string, maxBody: number | undefined, check = false, iface: Interface = 'auto', offload?: string): Promise<void> {
  // H2 (httpoxy): the request's Proxy header leaves process.env before the app module loads;
  // under Node's own proxy support (which read it already) this process hands the request to one started without it.
  const restarted = restartWithoutProxy();
  if (restarted !== undefined) {
    process.exitCode = restarted;
    return;
  }
  dropProxyHeader();
  const { runCgi } = await import('../server/cgi.js');
  await runCgi(appFor(spec, check, iface), { ...(maxBody === undefined ? {} : { maxBodyBytes: maxBody }), ...(offload === undefined ? {} : { offload }) });
}

/** Loads the app; with --validate, wrapped in validate() (loaded only then: it is a separate bundle). */
async function appFor(spec: string, check: boolean, iface: Interface = 'auto'): Promise<App> {
  const app = await loadApp(spec, undefined, iface);
  if (!check) return app;
  const { validate } = await dynamicImport<typeof import('../middleware/validate.js')>('tsgi/middleware');
  return validate(app);
}

/** Set by the build from package.json. */
declare const __TSGI_VERSION__: string;
const VERSION = typeof __TSGI_VERSION__ === 'string' ? __TSGI_VERSION__ : '0.0.0-dev';

async function run(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  let rest = args;
  // Bare `tsgi` is a mistake (nothing to run): the usage on standard error, status 2, as for any usage error.
  if (command === undefined) {
    process.stderr.write(usage());
    process.exit(2);
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(usage());
    return;
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(`tsgi ${VERSION}\nNode ${process.version}\n`);
    return;
  }
  // O2, O3: a running master's control socket.
  if (command === 'status' || command === 'reload' || command === 'stop' || command === 'scale') {
    return (await import('./control-client.js')).control(command, rest);
  }
  // The common CGI case, `tsgi cgi APP`, skips option parsing: start-up is its cost.
  if (command === 'cgi' && rest.length === 1 && !rest[0]!.startsWith('-')) return cgi(rest[0]!, undefined);
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new UsageError(command.startsWith('-') ? `${command} comes after a command` : `unknown command "${command}"`);
  }
  let cmd = command as Command;
  // `tsgi check fastcgi APP …`: check what that command would start (P14).
  let checked: ServerCommand | undefined;
  if (cmd === 'check' && (SERVER_COMMANDS as readonly string[]).includes(rest[0] ?? '')) {
    checked = rest[0] as ServerCommand;
    rest = rest.slice(1);
    cmd = checked;
  }
  const { app: spec, values, help, configFile } = await resolveArgs(cmd, rest);
  if (help) { process.stdout.write(commandUsage(checked !== undefined ? 'check' : cmd)); return; }
  if (spec === undefined) throw new UsageError('APP is missing', cmd);
  const validate = values.validate === true;
  const maxBody = values['max-body'] as number | undefined;
  // B1: what APP exports.
  const iface = (values.interface ?? 'auto') as Interface;
  if (!INTERFACES.includes(iface)) throw new UsageError(`--interface ${String(values.interface)}: expected ${INTERFACES.join(', ')}`, cmd);

  if (checked !== undefined) return check(checked, spec, values, configFile, validate, iface);
  switch (cmd) {
    case 'cgi': {
      const { openLogs } = await import('./serve.js');
      openLogs(values);
      return cgi(spec, maxBody, validate, iface, values.offload as string | undefined);
    }
    case 'check':
      return check(inferServer(values), spec, values, configFile, validate, iface);
    default: {
      const settings = serverSettings(cmd, spec, values, configFile);
      // R4: the servers pace their body buffers (gc-pacer.ts) unless TSGI_GC_PACE_BYTES says otherwise.
      if (process.env.TSGI_GC_PACE_BYTES === undefined) setGcPace(DEFAULT_GC_PACE);
      const load = (): Promise<App> => appFor(spec, validate, iface);
      const worker = process.env.TSGI_WORKER;
      if (worker !== undefined) {
        delete process.env.TSGI_WORKER;
        const { serve } = await import('./serve.js');
        return serve(settings, load, JSON.parse(worker));
      }
      // P14: the same checks as `tsgi check`, before anything is bound or written.
      await (await import('./preflight.js')).preflight(settings);
      if (settings.workers > 0) {
        const { runMaster } = await import('./master.js');
        const reread = async (): Promise<Settings> => {
          const again = await resolveArgs(cmd, rest);
          return serverSettings(cmd, again.app ?? spec, again.values, configFile);
        };
        return runMaster(settings, VERSION, reread);
      }
      const { serve } = await import('./serve.js');
      return serve(settings, load, null, VERSION);
    }
  }
}

/** What an option is when it is not given, for `tsgi check`. */
const DEFAULTS: Record<string, string> = {
  workers: 'none (one process)',
  'max-workers': '4 per CPU, at least --workers (its MAX)',
  'idle-timeout': '30 (with --workers MIN:MAX)',
  'max-body': '104857600',
  'max-concurrent': '1024',
  'queue-timeout': '5',
  'graceful-timeout': '30',
  'access-log': 'off',
  offload: 'off (tsgi sends files itself)',
  'access-log-format': 'combined',
  'error-log': '- (standard error)',
  'log-level': 'info',
  interface: 'auto',
  metrics: 'off',
  control: 'next to --pid, else to --socket (with a master)',
};

/**
 * Which server a `tsgi check` without a command checks: told by the options
 * that belong to one server only (`reload`: http; `no-multiplex`, the socket
 * options: fastcgi), else http. `tsgi check uwsgi …` names it.
 */
function inferServer(values: Values): ServerCommand {
  if (values.reload === true) return 'http';
  if (['no-multiplex', 'socket', 'chmod', 'chown', 'max-concurrent'].some((k) => values[k] !== undefined)) return 'fastcgi';
  return 'http';
}

/**
 * `tsgi check [COMMAND] APP [options]`: what the start of `server` checks
 * (preflight.ts, the same function), then the app loaded as the start loads
 * it (after dropping to --user/--group), then the resolved settings (as
 * `nginx -t`). Exits non-zero where the start would fail (P14).
 */
async function check(server: ServerCommand, spec: string, values: Values, configFile: string | undefined, validate: boolean, iface: Interface): Promise<void> {
  for (const key of Object.keys(values)) {
    if (!OPTIONS[key]!.for.includes(server)) throw new UsageError(`--${key} does not apply to tsgi ${server}`, 'check');
  }
  const settings = serverSettings(server, spec, values, configFile);
  const { preflight } = await import('./preflight.js');
  const notes = await preflight(settings);
  const { dropPrivileges } = await import('../server/privileges.js');
  dropPrivileges(opt(values, 'user'), opt(values, 'group'));
  await appFor(spec, validate, iface);
  const shown = (v: unknown): string => (typeof v === 'object' ? JSON.stringify(v) : String(v));
  const lines = [`command: tsgi ${server}`, `app: ${spec} (loads${values.user !== undefined || values.group !== undefined ? ' as --user/--group' : ''})`];
  for (const key of [...new Set([...Object.keys(values), ...Object.keys(DEFAULTS)])].sort()) {
    if (!OPTIONS[key]!.for.includes(server)) continue;
    if (key === 'workers' && values.workers === undefined && settings.workers > 0) {
      lines.push(`workers: ${settings.workers} (under a master: --reload, --max-requests or --timeout ask for one)`);
      continue;
    }
    lines.push(values[key] !== undefined ? `${key}: ${shown(values[key])}` : `${key}: ${DEFAULTS[key]} (default)`);
  }
  for (const note of notes) lines.push(`note: ${note}`);
  process.stdout.write(`${lines.join('\n')}\ntsgi check: OK\n`);
}

/** Runs the tsgi command line (`argv` without node and the script). */
export function main(argv: string[]): Promise<void> {
  return run(argv).catch((err: unknown) => {
    if (err instanceof UsageError) {
      // Usage errors always exit 2, with a pointer to the help that applies.
      process.stderr.write(`tsgi: ${err.message}\n(tsgi ${err.command ?? ''}${err.command ? ' ' : ''}--help lists the options)\n`);
      process.exit(2);
    }
    const msg = err instanceof GatewayError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`tsgi: ${msg}\n`);
    // A configuration the start refuses (a user, a group, a path, a permission: preflight.ts,
    // privileges.ts, bind.ts) is a bad configuration, exit 2, as usage errors are.
    process.exit(err instanceof GatewayError && (err.code === 'ERR_BAD_OPTION' || err.code === 'ERR_CONFIG') ? 2 : 1);
  });
}
