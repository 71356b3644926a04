/**
 * Describes why an app module failed to load: the file, the line and column
 * of the fault, and the stack, so that a deployment log says where to look
 * (docs/loading.md).
 *
 * Node does not put a location on every load error: a CommonJS syntax error
 * carries `file:line` and a caret in its stack, an error thrown while the
 * module runs has it in its first frame, but an ES module syntax error has
 * neither. For that last case Node itself is asked (`node --check FILE`, a
 * child process on this error path only), which prints the same
 * `file:line` + caret as an uncaught error would.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where a load error points: `path:line:column`, and the source line with a caret when Node gave one. */
export interface LoadLocation {
  path: string;
  line: number;
  column: number;
  excerpt: string | undefined;
}

const HEADER = /^(\/[^\n]*?|file:\/\/\/[^\n]*?):(\d+)\n(?:([^\n]*)\n([ \t]*)\^)?/;
const FRAME = /^at (?:.* \()?((?:file:\/\/)?\/[^\s()]+?):(\d+):(\d+)\)?$/;
/** tsgi's own frames (the loader that called import()) say nothing about the app. */
const OWN = /[\\/]dist[\\/]tsgi\.cjs:/;

const toPath = (p: string): string => (p.startsWith('file://') ? fileURLToPath(p) : p);

/** The `file:line` + caret header Node prints above a syntax error. */
function fromHeader(text: string): LoadLocation | undefined {
  const m = HEADER.exec(text);
  if (!m) return undefined;
  const caret = m[4] !== undefined && m[3]!.trim() !== '';
  return { path: toPath(m[1]!), line: Number(m[2]), column: caret ? m[4]!.length + 1 : 1, excerpt: caret ? `${m[3]}\n${m[4]}^` : undefined };
}

/** The first stack frame outside Node's own code. */
function fromFrames(stack: string): LoadLocation | undefined {
  for (const line of stack.split('\n')) {
    const m = /^\s+at /.test(line) && !OWN.test(line) ? FRAME.exec(line.trim()) : null;
    if (m) return { path: toPath(m[1]!), line: Number(m[2]), column: Number(m[3]), excerpt: undefined };
  }
  return undefined;
}

/** Asks Node where the syntax error in `file` is. */
function fromCheck(file: string): LoadLocation | undefined {
  // Loaded here, on this error path only: node:child_process costs every CGI request a few ms at start-up.
  const { spawnSync } = process.getBuiltinModule('node:child_process');
  const r = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? undefined : fromHeader(r.stderr ?? '');
}

/** Why `file` cannot be read at all, or undefined when it can. */
function unreadable(file: string): string | undefined {
  try {
    accessSync(file, constants.R_OK);
    return undefined;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') return 'no such file';
    const uid = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
    return `not readable by the user running tsgi${uid}: ${code ?? String(err)}`;
  }
}

/** The package.json nearest to `file` (its path) and its `type` ('commonjs' when it names none); undefined when there is none. */
export function nearestPackage(file: string): { path: string; type: string; declared: boolean } | undefined {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const path = join(dir, 'package.json');
    try {
      const type = (JSON.parse(readFileSync(path, 'utf8')) as { type?: unknown }).type;
      return { path, type: typeof type === 'string' ? type : 'commonjs', declared: typeof type === 'string' };
    } catch (err) {
      // A package.json that cannot be parsed still decides (Node refuses it); only a missing one passes up.
      if ((err as { code?: string }).code !== 'ENOENT') return { path, type: 'commonjs', declared: false };
      if (dirname(dir) === dir) return undefined;
    }
  }
}

/** The messages V8 and Node give for ES module syntax in a file loaded as CommonJS. */
const ESM_IN_CJS = /^(?:Unexpected token 'export'|Cannot use import statement outside a module|Cannot use 'import\.meta' outside a module|Unexpected token 'import')/;

/**
 * A hint for ES module syntax (import/export) in a `.js` or `.ts` file that
 * Node loads as CommonJS, because the nearest package.json says
 * `"type": "commonjs"` (what `npm init` writes) or there is none: what to
 * rename the file to, or what to set.
 */
function esmInCommonJsHint(file: string, err: Error): string | undefined {
  const ext = extname(file);
  if (!(err instanceof SyntaxError) || !ESM_IN_CJS.test(err.message) || !['.js', '.ts', '.tsx'].includes(ext)) return undefined;
  const pkg = nearestPackage(file);
  if (pkg !== undefined && pkg.type === 'module') return undefined;
  const ts = ext !== '.js';
  const renamed = `${basename(file, ext)}${ts ? '.mts' : '.mjs'}`;
  const why = pkg === undefined ? 'no package.json above it says "type": "module"'
    : pkg.declared ? `${pkg.path} says "type": "commonjs" (npm init writes it)` : `${pkg.path} has no "type": "module"`;
  return `hint: ${basename(file)} uses import/export, but Node loads it as CommonJS: ${why}. ` +
    `Rename it to ${renamed}, or set "type": "module" in ${pkg?.path ?? 'a package.json beside it'}` +
    `${ts ? ', or install tsx next to the app (npm install tsx), which compiles it' : ''}`;
}

/**
 * One message for a module that did not load: first line
 * `cannot load app module PATH:LINE:COL: Error: message`, then the source
 * line with a caret when known, then the stack frames outside Node's own
 * code, then a hint when the fault is ES module syntax in a file Node loads
 * as CommonJS.
 */
export function describeLoadError(file: string, err: unknown): string {
  const cannotRead = unreadable(file);
  if (cannotRead) return `cannot load app module ${file}: ${cannotRead}`;
  if (!(err instanceof Error)) return `cannot load app module ${file}: ${String(err)}`;
  const stack = err.stack ?? '';
  const where = fromHeader(stack) ?? fromFrames(stack) ?? (err instanceof SyntaxError ? fromCheck(file) : undefined);
  const at = where ? `${where.path}:${where.line}:${where.column}` : file;
  const lines = [`cannot load app module ${at}: ${err.name}: ${err.message}`];
  if (where?.excerpt) lines.push(...where.excerpt.split('\n').map((l) => `    ${l}`));
  const frames = stack.split('\n').filter((l) => /^\s+at /.test(l) && FRAME.test(l.trim()) && !OWN.test(l));
  if (frames.length > 0) lines.push(...frames.map((l) => `    ${l.trim()}`));
  if (where?.path && where.path !== file) lines.push(`    (while loading ${file})`);
  const hint = esmInCommonJsHint(where?.path ?? file, err);
  if (hint !== undefined) lines.push(`    ${hint}`);
  return lines.join('\n');
}
