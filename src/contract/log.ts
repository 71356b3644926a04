/**
 * The one logger. Library code never calls console.*; the CLI (or an
 * embedding program) installs its own sink with setLogger().
 */
import { writeSync } from 'node:fs';

/** Severity of a log line. */
export type Level = 'error' | 'warn' | 'info' | 'debug';
/** Receives every log line tsgi emits. */
export type LogSink = (level: Level, message: string) => void;

const RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

let threshold = RANK.info;
/**
 * One error-log line: ISO 8601 time, the process id (each worker's own) and
 * the level, so that lines from several workers in one file can be told apart.
 */
export function formatLogLine(level: Level, message: string, date = new Date()): string {
  return `${date.toISOString()} tsgi[${process.pid}] ${level}: ${message}`;
}

let sink: LogSink = (level, message) => {
  try {
    // Synchronous on purpose: a CGI process may exit right after logging.
    writeSync(2, `${formatLogLine(level, message)}\n`);
  } catch {
    /* stderr gone: nothing better to do */
  }
};

/** Install a log sink and/or change the level (default `info`). */
export function setLogger(next: LogSink | null, level?: Level): void {
  if (next) sink = next;
  if (level) threshold = RANK[level];
}

/** True when lines of `level` are written: to skip building a message nobody reads. */
export function logs(level: Level): boolean {
  return RANK[level] <= threshold;
}

// C0 controls but LF, DEL and C1 controls; and a line break not followed by a blank.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f]|\n(?=[^ \n])/;
// eslint-disable-next-line no-control-regex
const UNSAFE_ALL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]|\n(?=[^ \n])/g;

/**
 * A message as it may stand in a log (H4): C0 controls other than LF, DEL
 * and C1 controls as \xhh, so that no text in a message (the request data
 * in an error, say) can move a terminal's cursor or hide what follows. A
 * line break is kept only as a continuation line: one that would begin
 * with anything but a space is indented, so that it can never pass for a
 * line of its own (time, pid, level). Stack traces and code frames, whose
 * lines begin with blanks, read as they always did. Request data in a
 * message is escaped where the message is made (escapeLog), quotes too.
 * The gateway's own reports to `wsgi.errors` (the web server's error log
 * under FastCGI and CGI) are made the same way.
 */
export function logText(message: string): string {
  if (!UNSAFE.test(message)) return message;
  return message.replace(UNSAFE_ALL, (c) => (c === '\n' ? '\n  ' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** Emit a log line through the installed sink. */
export function log(level: Level, message: string): void {
  if (RANK[level] <= threshold) sink(level, logText(String(message)));
}
