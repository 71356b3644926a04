// Load errors say where: the module's path, line and column, the source line
// with a caret for a syntax error, and the stack (docs/loading.md).
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runDir } from '../integration/servers.js';

const bin = join(ROOT, 'bin/tsgi.cjs');
const dir = runDir('tsgi-load-error-');
const cgiEnv = { PATH: process.env.PATH ?? '', REQUEST_METHOD: 'GET', SERVER_NAME: 'localhost', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' };

/** Log lines without their time and pid: `tsgi error: …`. */
const plain = (text: string): string => text.replace(/^\S+ tsgi\[\d+\] (\w+): /gm, 'tsgi $1: ');

function cgi(name: string, source: string, user?: string) {
  const file = join(dir, name);
  writeFileSync(file, source);
  const cmd = user ? ['runuser', '-u', user, '--', process.execPath, bin, 'cgi', file] : [process.execPath, bin, 'cgi', file];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { env: cgiEnv, encoding: 'latin1' });
  return { file, ...r, stderr: plain(r.stderr) };
}

describe('an app that does not load', () => {
  it('C18 a syntax error in an ES module: path:line:column, the line and a caret; the fixed 500 on stdout', () => {
    const r = cgi('syntax.mjs', 'export default function app() {}\nconst x = ;\n');
    expect(r.stdout).toBe('Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\n\r\nA server error occurred.  Please contact the administrator.');
    expect(r.stderr).toBe(`tsgi error: cannot load app module ${r.file}:2:11: SyntaxError: Unexpected token ';'\n    const x = ;\n              ^\n`);
    expect(r.status).toBe(1);
  });

  it('a syntax error in a CommonJS module, and an unfinished file', () => {
    const cjs = cgi('syntax.cjs', 'module.exports = function app() {\n  return 1 +;\n};\n');
    expect(cjs.stderr).toMatch(new RegExp(`^tsgi error: cannot load app module ${cjs.file}:2:13: SyntaxError: Unexpected token ';'\\n`));
    const eof = cgi('eof.mjs', 'export default function app() {\n');
    expect(eof.stderr).toMatch(new RegExp(`^tsgi error: cannot load app module ${eof.file}:\\d+:\\d+: SyntaxError: Unexpected end of input\\n`));
  });

  it('an error thrown while the module runs: its location and the stack, also through an import', () => {
    const thrower = cgi('thrower.mjs', "export default () => [];\nfunction setup() {\n  throw new Error('no database');\n}\nsetup();\n");
    expect(thrower.stderr).toContain(`tsgi error: cannot load app module ${thrower.file}:3:9: Error: no database\n`);
    expect(thrower.stderr).toMatch(/\n {4}at setup \(file:\/\/.*thrower\.mjs:3:9\)\n/);
    const outer = cgi('outer.mjs', "import './thrower.mjs';\nexport default () => [];\n");
    expect(outer.stderr).toContain(`cannot load app module ${thrower.file}:3:9: Error: no database\n`);
    expect(outer.stderr).toContain(`(while loading ${outer.file})`);
  });

  it('a missing file, and one the user running tsgi cannot read, are told apart', () => {
    const missing = spawnSync(process.execPath, [bin, 'cgi', join(dir, 'nope.js')], { env: cgiEnv, encoding: 'latin1' });
    expect(plain(missing.stderr)).toBe(`tsgi error: cannot load app module ${join(dir, 'nope.js')}: no such file\n`);
    if (process.getuid?.() !== 0) return; // needs another user to be refused
    const file = join(dir, 'secret.mjs');
    writeFileSync(file, 'export default () => [];\n');
    chmodSync(file, 0o600);
    const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, bin, 'cgi', file], { env: cgiEnv, encoding: 'latin1' });
    expect(plain(r.stderr)).toMatch(new RegExp(`^tsgi error: cannot load app module ${file}: not readable by the user running tsgi \\(uid \\d+\\): EACCES\\n$`));
  });

  it('the other commands print the same, and exit 1', () => {
    const file = join(dir, 'syntax2.mjs');
    writeFileSync(file, 'export default function app() {}\nconst x = ;\n');
    const r = spawnSync(process.execPath, [bin, 'http', file, '--bind', '127.0.0.1:0'], { encoding: 'latin1' });
    expect(r.stderr).toContain(`cannot load app module ${file}:2:11: SyntaxError: Unexpected token ';'\n    const x = ;\n`);
    expect(r.status).toBe(1);
  });
});

describe('ES module syntax in a file Node loads as CommonJS', () => {
  it('C18 a .js or .ts app with import/export in a "type": "commonjs" package (npm init): the error, then a hint saying what to rename or set', () => {
    const pkgDir = join(dir, 'npm-init');
    mkdirSync(pkgDir, { recursive: true });
    writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: 'site', version: '1.0.0', type: 'commonjs' }));
    const manifest = join(pkgDir, 'package.json');
    const cases: [string, string, string][] = [
      ['app.js', "export default (e, start) => { start('200 OK', []); return []; };\n", 'app.mjs'],
      ['imports.js', "import { readFileSync } from 'node:fs';\nexport default readFileSync;\n", 'imports.mjs'],
      // No tsx beside this package: Node strips the types and loads the file as CommonJS.
      ['app.ts', "const app = (e: unknown, start: (s: string, h: [string, string][]) => void) => { start('200 OK', []); return []; };\nexport default app;\n", 'app.mts'],
    ];
    for (const [name, source, renamed] of cases) {
      const file = join(pkgDir, name);
      writeFileSync(file, source);
      const r = spawnSync(process.execPath, [bin, 'cgi', file], { env: cgiEnv, encoding: 'latin1', cwd: pkgDir });
      const stderr = plain(r.stderr);
      expect(stderr, name).toMatch(new RegExp(`^tsgi error: cannot load app module ${file}:\\d+:1: SyntaxError: (Unexpected token 'export'|Cannot use import statement outside a module)\\n`, 'm'));
      const hint = stderr.split('\n').find((l) => l.startsWith('    hint: '));
      expect(hint, name).toBe(`    hint: ${name} uses import/export, but Node loads it as CommonJS: ${manifest} says "type": "commonjs" (npm init writes it). ` +
        `Rename it to ${renamed}, or set "type": "module" in ${manifest}${name.endsWith('.ts') ? ', or install tsx next to the app (npm install tsx), which compiles it' : ''}`);
      expect(r.stdout).toMatch(/^Status: 500 Internal Server Error\r\n/);
      expect(r.status).toBe(1);
    }
    // The same file under "type": "module" loads: no hint where there is nothing to fix.
    writeFileSync(manifest, JSON.stringify({ name: 'site', type: 'module' }));
    const ok = spawnSync(process.execPath, [bin, 'cgi', join(pkgDir, 'app.js')], { env: cgiEnv, encoding: 'latin1' });
    expect(ok.stdout).toMatch(/^Status: 200 OK\r\n/);
    expect(ok.stderr).not.toContain('hint:');
  });
});
