/**
 * The resolved settings of a server command: the config file and the
 * command line merged (the command line wins), checked as a whole (options
 * that exclude each other), and turned into what the servers take.
 */
import { setLogger, type Level } from '../contract/log.js';
import { listensOnSystemdFds, parseMode, type ListenOptions } from '../server/listen.js';
import { metricsAddress } from './operate-options.js';
import { parseArgv, readConfig, UsageError, workerRange, type Command, type Values } from './options.js';

/** A server command with its settings. */
export interface Settings {
  readonly command: 'http' | 'fastcgi' | 'uwsgi' | 'scgi';
  readonly app: string;
  readonly values: Values;
  /** Where to listen (systemd's sockets are found at start, not here). */
  readonly listen: ListenOptions;
  /** Worker processes (with `--workers MIN:MAX`, MIN); 0 means no master: this process serves. */
  readonly workers: number;
  readonly gracefulMs: number;
  readonly configFile: string | undefined;
}

/** Reads option `name` as a string, number or boolean. */
export function opt<T extends string | number | boolean>(values: Values, name: string): T | undefined {
  return values[name] as T | undefined;
}

/** Parses `tsgi COMMAND …` (COMMAND already taken off) for any command. */
export async function resolveArgs(command: Command, args: string[]): Promise<{ app: string | undefined; values: Values; help: boolean; configFile: string | undefined }> {
  const cli = parseArgv(command, args);
  if (cli.help) return { app: undefined, values: cli.values, help: true, configFile: undefined };
  if (cli.positionals.length > 1) throw new UsageError(`unexpected argument ${cli.positionals[1]}`, command);
  const configFile = opt<string>(cli.values, 'config');
  const fromFile = configFile !== undefined ? await readConfig(configFile, command) : { values: {}, app: undefined };
  const values: Values = { ...fromFile.values, ...cli.values };
  const level = opt<Level>(values, 'log-level');
  if (level !== undefined) setLogger(null, level);
  return { app: cli.positionals[0] ?? fromFile.app, values, help: false, configFile };
}

/** Checks a server command's options as a whole and works out where it listens. */
export function serverSettings(command: 'http' | 'fastcgi' | 'uwsgi' | 'scgi', app: string, values: Values, configFile: string | undefined): Settings {
  const has = (n: string): boolean => values[n] !== undefined;
  if (has('socket') && (has('bind') || has('port'))) throw new UsageError('give --socket or --bind/--port, not both', command);
  if (has('bind') && has('port')) throw new UsageError('give --bind HOST:PORT or --port N, not both', command);
  if ((has('chmod') || has('chown')) && !has('socket')) throw new UsageError(`--${has('chmod') ? 'chmod' : 'chown'} applies to --socket only`, command);
  if (has('max-requests-jitter') && !has('max-requests')) throw new UsageError('--max-requests-jitter needs --max-requests', command);
  if (has('chmod')) {
    try { parseMode(values.chmod as string); } catch (err) { throw new UsageError(`--${(err as Error).message}`, command); }
  }
  let listen: ListenOptions;
  if (has('socket')) {
    listen = { socket: values.socket as string, ...(has('chmod') ? { chmod: values.chmod as string } : {}), ...(has('chown') ? { chown: values.chown as string } : {}) };
  } else if (has('bind')) {
    listen = { ...(values.bind as { host: string; port: number }) };
  } else if (has('port')) {
    listen = { host: '127.0.0.1', port: values.port as number };
  } else if (command === 'http') {
    // PORT: the convention of PaaS hosts and process managers, where a TCP port makes sense.
    const env = process.env.PORT;
    if (env !== undefined && !/^\d+$/.test(env)) throw new UsageError(`PORT=${env}: expected a port number`, command);
    listen = { host: '127.0.0.1', port: env !== undefined ? Number(env) : 8000 };
  } else if ((command === 'uwsgi' || command === 'scgi') && !process.env.LISTEN_FDS && !listensOnSystemdFds() && process.env.TSGI_WORKER === undefined) {
    // P7: systemd's sockets, once taken, are no longer in the environment: a reload (SIGHUP) re-reads
    // the settings without them, and a worker serves the master's listeners.
    throw new UsageError('give --socket PATH, --bind HOST:PORT or --port N', command);
  } else {
    listen = {}; // fd 0, or systemd's sockets
  }
  metricsAddress(values, command); // O1: a malformed address is a usage error before anything starts
  // Anything a master does implies one: --workers, recycling, the heartbeat, --reload, --metrics.
  const supervised = has('workers') || has('max-requests') || has('timeout') || has('slow-log') || has('max-memory') || values.reload === true || has('metrics');
  return {
    command,
    app,
    values,
    listen,
    workers: supervised ? (workerRange(values)?.min ?? 1) : 0,
    gracefulMs: (opt<number>(values, 'graceful-timeout') ?? 30) * 1000,
    configFile,
  };
}
