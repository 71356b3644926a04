/**
 * `tsgi COMMAND APP [options]`. Each command's module is imported only when
 * that command runs, so `tsgi cgi` loads nothing the servers need. The
 * options, the config file and the help live in options.ts; a server with
 * `--workers` runs as a master (master.ts) over worker processes (serve.ts).
 */
import { GatewayError } from '../contract/errors.js';
import { dynamicImport } from '../contract/dynamic-import.js';
import type { App } from '../contract/types.js';
import { dropProxyHeader } from '../server/cgi-proxy.js';
import { INTERFACES, loadApp, type Interface } from './load-app.js';
import { commandUsage, usage, UsageError, type Command } from './options.js';
import { resolveArgs, serverSettings, type Settings } from './settings.js';

const COMMANDS: readonly Command[] = ['http', 'cgi', 'fastcgi', 'uwsgi', 'check'];

/** `tsgi cgi APP`: answers this process's one request. */
async function cgi(spec: string, maxBody: number | undefined, check = false, iface: Interface = 'auto'): Promise<void> {
  // H2 (httpoxy): the request's Proxy header leaves process.env before the app module loads.
  dropProxyHeader();
  const { runCgi } = await import('../server/cgi.js');
  await runCgi(appFor(spec, check, iface), maxBody === undefined ? {} : { maxBodyBytes: maxBody });
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
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(usage());
    return;
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(`tsgi ${VERSION}\nNode ${process.version}\n`);
    return;
  }
  // The common CGI case, `tsgi cgi APP`, skips option parsing: start-up is its cost.
  if (command === 'cgi' && rest.length === 1 && !rest[0]!.startsWith('-')) return cgi(rest[0]!, undefined);
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new UsageError(command.startsWith('-') ? `${command} comes after a command` : `unknown command "${command}"`);
  }
  const cmd = command as Command;
  const { app: spec, values, help, configFile } = await resolveArgs(cmd, rest);
  if (help) { process.stdout.write(commandUsage(cmd)); return; }
  if (spec === undefined) throw new UsageError('APP is missing', cmd);
  const validate = values.validate === true;
  const maxBody = values['max-body'] as number | undefined;
  // B1: what APP exports.
  const iface = (values.interface ?? 'auto') as Interface;
  if (!INTERFACES.includes(iface)) throw new UsageError(`--interface ${String(values.interface)}: expected ${INTERFACES.join(', ')}`, cmd);

  switch (cmd) {
    case 'cgi': {
      const { openLogs } = await import('./serve.js');
      openLogs(values);
      return cgi(spec, maxBody, validate, iface);
    }
    case 'check':
      return check(spec, values, validate, iface);
    default: {
      const settings = serverSettings(cmd, spec, values, configFile);
      const load = (): Promise<App> => appFor(spec, validate, iface);
      const worker = process.env.TSGI_WORKER;
      if (worker !== undefined) {
        delete process.env.TSGI_WORKER;
        const { serve } = await import('./serve.js');
        return serve(settings, load, JSON.parse(worker));
      }
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
  'max-body': '104857600',
  'max-concurrent': '1024',
  'graceful-timeout': '30',
  'access-log': 'off',
  'access-log-format': 'combined',
  'error-log': '- (standard error)',
  'log-level': 'info',
  interface: 'auto',
};

/** `tsgi check APP [options]`: the config and the app load; the resolved settings are printed (as `nginx -t`). */
async function check(spec: string, values: Record<string, unknown>, validate: boolean, iface: Interface): Promise<void> {
  await appFor(spec, validate, iface);
  const shown = (v: unknown): string => (typeof v === 'object' ? JSON.stringify(v) : String(v));
  const lines = [`app: ${spec} (loads)`];
  for (const key of [...new Set([...Object.keys(values), ...Object.keys(DEFAULTS)])].sort()) {
    lines.push(values[key] !== undefined ? `${key}: ${shown(values[key])}` : `${key}: ${DEFAULTS[key]} (default)`);
  }
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
    process.exit(1);
  });
}
