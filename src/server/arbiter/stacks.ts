/**
 * O4, the master's side: asks a worker's stack thread (stack-probe.ts) for
 * the JavaScript stack of its main thread, and decides which requests are
 * slow enough to be logged (`--slow-log`), each once. P13: what comes back is
 * a worker's word: it is cut to a bounded size and goes through the logger,
 * which escapes it (H4).
 */
import type { Duplex } from 'node:stream';
import { log } from '../../contract/log.js';

/** Longest stack text the master logs. */
export const MAX_STACK = 16 * 1024;
/** Longest answer line the master reads before it gives up on it. */
const MAX_LINE = 64 * 1024;

/** The stack pipe of one worker. */
export class StackPipe {
  #waiting: ((text: string) => void)[] = [];
  #rest = '';

  /** `bad` (P13) gets the reason when the worker writes what is not an answer; the pipe is then no longer read. */
  constructor(private readonly pipe: Duplex, private readonly bad: (why: string) => void = () => {}) {
    pipe.on('data', (d: Buffer) => this.#read(d));
    pipe.on('error', () => this.#answer('its stack pipe failed'));
    pipe.on('close', () => this.#answer('its stack pipe closed'));
  }

  /**
   * The worker's stack as text (or why there is none), within `ms`.
   * Several calls at once share one answer.
   */
  ask(ms: number): Promise<string> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.#waiting.indexOf(done);
        if (i >= 0) this.#waiting.splice(i, 1);
        resolve(`(no stack: the worker did not answer within ${ms} ms)`);
      }, ms);
      const done = (text: string): void => { clearTimeout(timer); resolve(text); };
      this.#waiting.push(done);
      if (this.#waiting.length === 1 && this.pipe.writable) this.pipe.write('s\n');
    });
  }

  #failed = false;

  #read(d: Buffer): void {
    if (this.#failed) return;
    const lines = (this.#rest + d.toString('latin1')).split('\n');
    this.#rest = lines.pop()!;
    const fail = (why: string): void => {
      this.#failed = true;
      this.#rest = '';
      this.#answer(`(no stack: the worker ${why})`);
      this.pipe.resume(); // drained, never parsed again
      this.bad(why);
    };
    if (this.#rest.length > MAX_LINE || lines.some((l) => l.length > MAX_LINE)) { fail(`sent a stack answer longer than ${MAX_LINE} bytes`); return; }
    for (const line of lines) {
      const text = parseAnswer(line);
      if (text === UNREADABLE) { fail('sent an unreadable stack answer'); return; }
      this.#answer(text);
    }
  }

  #answer(text: string): void {
    const all = this.#waiting;
    this.#waiting = [];
    for (const f of all) f(text);
  }
}

/** What parseAnswer() returns for a line that is not an answer. */
export const UNREADABLE = '(no stack: the worker sent an unreadable answer)';

/** One answer line of the stack thread as log text: the stack, or why there is none (UNREADABLE: not an answer); bounded (P13). */
export function parseAnswer(line: string): string {
  let m: unknown;
  try { m = JSON.parse(Buffer.from(line.slice(0, MAX_LINE), 'latin1').toString('utf8')); } catch { return UNREADABLE; }
  const o = (typeof m === 'object' && m !== null ? m : {}) as { stack?: unknown; error?: unknown };
  const text = typeof o.stack === 'string' ? o.stack : typeof o.error === 'string' ? `(no stack: ${o.error})` : UNREADABLE;
  return text.length > MAX_STACK ? `${text.slice(0, MAX_STACK)}\n    ... (cut at ${MAX_STACK} characters)` : text;
}

/** The age the in-flight board gives a request ("... (running 12.3 s)"), in seconds, and the request itself. */
export function requestAge(item: string): { request: string; age: number } | null {
  const m = /^(.*) \(running (\d{1,9}(?:\.\d+)?) s\)$/s.exec(item);
  return m ? { request: m[1]!, age: Number(m[2]) } : null;
}

/**
 * `--slow-log`: which of a worker's requests in flight just became slow.
 * A request is known by its line and its start time (the board gives ages
 * at a 250 ms pace, so two starts less than a second apart are one); a
 * request is reported once, and forgotten once it is no longer in flight.
 */
export class SlowRequests {
  #seen: { request: string; start: number }[] = [];

  constructor(private readonly limitSeconds: number) {}

  /** The requests of `inFlight` older than the limit and not reported before, as they read with their age. */
  due(inFlight: readonly string[], now = Date.now()): string[] {
    const live: { request: string; start: number }[] = [];
    const out: string[] = [];
    for (const item of inFlight) {
      const r = requestAge(item);
      if (r === null) continue;
      const start = now - r.age * 1000;
      const known = this.#seen.find((x) => x.request === r.request && Math.abs(x.start - start) < 1000);
      if (known) { live.push(known); continue; }
      if (r.age < this.limitSeconds) continue;
      const entry = { request: r.request, start };
      live.push(entry);
      out.push(item);
    }
    this.#seen = live;
    return out;
  }
}

/** How long the master waits for a stack: the stack thread gives up after 2 s itself. */
export const STACK_WAIT_MS = 2500;

/** What stacks.ts needs of a worker (worker.ts's Worker). */
interface Asked {
  readonly name: string;
  readonly stacks?: StackPipe | undefined;
  readonly child: { kill(signal: NodeJS.Signals): boolean };
}

/** O4 `--slow-log`: each newly slow request is logged with its worker's stack (asked once for all of them). */
export function logSlow(w: Asked, due: string[], limitMs: number): void {
  if (due.length === 0 || w.stacks === undefined) return;
  void w.stacks.ask(STACK_WAIT_MS).then((stack) => {
    for (const r of due) log('warn', `slow request (--slow-log ${limitMs / 1000}): ${r} on ${w.name}; its stack:\n${stack}`);
  });
}

/** O4 `--timeout`: the stuck worker's stack is logged, then it is killed (whether or not the stack came). */
export async function stackThenKill(w: Asked, head: string): Promise<void> {
  const stack = w.stacks === undefined ? null : await w.stacks.ask(STACK_WAIT_MS);
  log('error', stack === null ? head : `${head}; its stack:\n${stack}`);
  w.child.kill('SIGKILL');
}
