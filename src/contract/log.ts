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

/** Emit a log line through the installed sink. */
export function log(level: Level, message: string): void {
  if (RANK[level] <= threshold) sink(level, message);
}
