// The package as a user gets it: packed, installed from the tarball into a
// fresh project, then used from there (docs/packaging.md).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, portOpen, ROOT, waitFor } from '../integration/servers.js';
import { packAndInstall, snapshot, type Installed } from './install.js';

let inst: Installed;
beforeAll(() => {
  inst = packAndInstall('tsgi-pkg-');
  writeFileSync(join(inst.app, 'hello.js'), readFileSync(join(ROOT, 'bench/hello.js')));
  writeFileSync(join(inst.app, 'hello.cjs'), readFileSync(join(ROOT, 'bench/hello.cjs')));
  writeFileSync(join(inst.app, 'fails.js'), "export default function app() { throw new Error('in the request'); }\n");
}, 120_000);
afterAll(() => { if (inst) rmSync(inst.work, { recursive: true, force: true }); });

const cgiEnv = { PATH: process.env.PATH ?? '', REQUEST_METHOD: 'GET', SERVER_NAME: 'localhost', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' };

describe('the packed package', () => {
  it('carries no machine-specific file: no code cache, no path of the build checkout', () => {
    const files = execFileSync('tar', ['tzf', inst.tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(files).toContain('package/dist/tsgi.cjs');
    expect(files).toContain('package/LICENSE');
    expect(files.filter((f) => /cache|\.v8/.test(f))).toEqual([]);
    for (const checkout of [ROOT, inst.source]) {
      const mentions = spawnSync('grep', ['-rlF', checkout, inst.pkg], { encoding: 'utf8' }).stdout.trim();
      expect(mentions).toBe('');
    }
  });

  it('npm pack then npm install ./tsgi-VERSION.tgz: dist/ prebuilt, no install-time script, and npm prints no warning about tsgi', () => {
    const files = execFileSync('tar', ['tzf', inst.tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const built of ['package/dist/tsgi.cjs', 'package/dist/index.js', 'package/dist/index.d.ts', 'package/dist/index.d.cts', 'package/dist/bridges/index.d.cts']) expect(files).toContain(built);
    const packed = JSON.parse(execFileSync('tar', ['xzf', inst.tarball, '-O', 'package/package.json'], { encoding: 'utf8' })) as { scripts: Record<string, string> };
    // npm asks about (npm 11: warns of) these for a package that is not from a registry.
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(packed.scripts[hook], hook).toBeUndefined();
    expect(inst.installLog).not.toMatch(/tsgi|install-scripts|allowScripts/);
    // The checkout packed keeps its prepare script (git installs build through it), byte for byte.
    expect(inst.manifestAfter).toBe(inst.manifestBefore);
    expect(JSON.parse(inst.manifestAfter).scripts.prepare).toBe('node scripts/build.mjs');
    // Nothing to build in the project that installed it: the command runs as installed.
    const r = spawnSync(process.execPath, [join(inst.pkg, 'bin/tsgi.cjs'), 'cgi', join(inst.app, 'hello.js')], { env: cgiEnv, encoding: 'latin1' });
    expect(r.stdout).toMatch(/^Status: 200 OK\r\n[^]*Hello, world!\n$/);
  });

  it('a read-only install: tsgi cgi writes nothing inside the package, and stack traces name the installed file', () => {
    const before = snapshot(inst.pkg);
    const cache = mkdtempSync(join(tmpdir(), 'tsgi-compile-cache-'));
    const env = { ...cgiEnv, NODE_COMPILE_CACHE: cache };
    for (let i = 0; i < 2; i++) {
      const ok = spawnSync(process.execPath, [join(inst.pkg, 'bin/tsgi.cjs'), 'cgi', join(inst.app, 'hello.js')], { env, encoding: 'latin1' });
      expect(ok.stdout).toMatch(/^Status: 200 OK\r\n[^]*Hello, world!\n$/);
      expect(ok.stderr).toBe('');
    }
    const failed = spawnSync(process.execPath, [join(inst.pkg, 'bin/tsgi.cjs'), 'cgi', join(inst.app, 'fails.js')], { env, encoding: 'latin1' });
    expect(failed.stdout).toMatch(/^Status: 500 Internal Server Error\r\n/);
    expect(failed.stderr).toContain('Error: in the request');
    expect(failed.stderr).toContain(`(${join(inst.pkg, 'dist/tsgi.cjs')}:`);
    expect(failed.stderr).not.toContain(ROOT);
    expect(snapshot(inst.pkg)).toEqual(before);
    // Compiled code is cached outside the package: Node's own compile cache (NODE_COMPILE_CACHE).
    expect(readdirSync(cache).length).toBeGreaterThan(0);
  });

  it('a compile cache directory that cannot be made is skipped silently: the request is served, nothing on stderr', () => {
    // A path under a regular file: no user, root included, can make a directory there.
    const blocker = join(mkdtempSync(join(tmpdir(), 'tsgi-no-cache-')), 'file');
    writeFileSync(blocker, '');
    const env = { ...cgiEnv, NODE_COMPILE_CACHE: join(blocker, 'cache') };
    const r = spawnSync(process.execPath, [join(inst.pkg, 'bin/tsgi.cjs'), 'cgi', join(inst.app, 'hello.js')], { env, encoding: 'latin1' });
    expect(r.stdout).toMatch(/^Status: 200 OK\r\n[^]*Hello, world!\n$/);
    expect(r.stderr).toBe('');
    expect(statSync(blocker).isFile()).toBe(true);
  });

  it('require() and import() of every entry point expose the same names', () => {
    const script = `
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const out = {};
      for (const id of ['tsgi', 'tsgi/cgi', 'tsgi/http', 'tsgi/fastcgi', 'tsgi/uwsgi', 'tsgi/scgi', 'tsgi/middleware', 'tsgi/helpers', 'tsgi/bridges']) {
        out[id] = { cjs: Object.keys(require(id)).sort(), esm: Object.keys(await import(id)).sort() };
      }
      console.log(JSON.stringify(out));`;
    writeFileSync(join(inst.app, 'names.mjs'), script);
    const out = JSON.parse(execFileSync(process.execPath, [join(inst.app, 'names.mjs')], { cwd: inst.app, encoding: 'utf8' })) as Record<string, { cjs: string[]; esm: string[] }>;
    for (const [id, { cjs, esm }] of Object.entries(out)) {
      expect(cjs, id).toEqual(esm);
      expect(cjs.length, id).toBeGreaterThan(0);
      expect(cjs, id).not.toContain('main');
    }
    expect(out['tsgi/cgi']!.cjs).toEqual(['cgiEnvironment', 'runCgi']);
  });

  it('types resolve for consumers with moduleResolution node16, nodenext, bundler and node10, ES module and CommonJS, for every subpath (tsgi/bridges too)', () => {
    // Every subpath the package exports is imported below: one added later must be added here.
    const manifest = JSON.parse(readFileSync(join(inst.pkg, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    expect(Object.keys(manifest.exports).filter((k) => k !== './package.json').map((k) => `tsgi${k.slice(1)}`).sort())
      .toEqual(['tsgi', 'tsgi/bridges', 'tsgi/cgi', 'tsgi/fastcgi', 'tsgi/helpers', 'tsgi/http', 'tsgi/middleware', 'tsgi/scgi', 'tsgi/uwsgi']);
    writeFileSync(join(inst.app, 'consumer.ts'), [
      "import { GatewayError, type App } from 'tsgi';",
      "import { runCgi } from 'tsgi/cgi';",
      "import { serveHttp } from 'tsgi/http';",
      "import { serveFastCgi } from 'tsgi/fastcgi';",
      "import { serveUwsgi } from 'tsgi/uwsgi';",
      "import { serveScgi } from 'tsgi/scgi';",
      "import { compose, logging } from 'tsgi/middleware';",
      "import { Request, Response } from 'tsgi/helpers';",
      "import { fromFetch, fromNodeListener } from 'tsgi/bridges';",
      "const app: App = (_environ, startResponse) => { startResponse('200 OK', []); return []; };",
      "const bridged: App = fromNodeListener((_req, res) => { res.end('ok'); });",
      "const fetched: App = fromFetch(() => new globalThis.Response('ok'));",
      'export const used = [GatewayError, runCgi, serveHttp, serveFastCgi, serveUwsgi, serveScgi, compose(app, logging()), Request, Response, bridged, fetched];',
      '// Real types, not `any`: a wrong argument is an error.',
      '// @ts-expect-error runCgi takes an app',
      'runCgi(42);',
      '// @ts-expect-error fromNodeListener takes a (req, res) listener',
      'fromNodeListener(42);',
      '',
    ].join('\n'));
    // The same consumer as a CommonJS module (.cts): it gets the require() entry points' types.
    writeFileSync(join(inst.app, 'consumer-cjs.cts'), readFileSync(join(inst.app, 'consumer.ts'), 'utf8'));
    const settings: Array<[string, string, string]> = [
      ['node16', 'node16', 'consumer.ts'], ['nodenext', 'nodenext', 'consumer.ts'], ['esnext', 'bundler', 'consumer.ts'], ['commonjs', 'node10', 'consumer.ts'],
      ['node16', 'node16', 'consumer-cjs.cts'], ['nodenext', 'nodenext', 'consumer-cjs.cts'], ['commonjs', 'node10', 'consumer-cjs.cts'],
    ];
    for (const [module, moduleResolution, consumer] of settings) {
      const file = join(inst.app, `tsconfig.${moduleResolution}.${consumer}.json`);
      writeFileSync(file, JSON.stringify({
        compilerOptions: {
          module, moduleResolution, target: 'es2022', strict: true, noEmit: true, skipLibCheck: true,
          typeRoots: [join(ROOT, 'node_modules/@types')], types: ['node'],
        },
        files: [consumer],
      }));
      const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', file], { cwd: inst.app, encoding: 'utf8' });
      expect(`${moduleResolution} ${consumer}: ${r.stdout}${r.stderr}`).toBe(`${moduleResolution} ${consumer}: `);
    }
  }, 120_000);

  it('a JavaScript-only install has no TypeScript toolchain; a .ts app loads through Node\'s type stripping, or says in one line how to add tsx', () => {
    expect(readdirSync(join(inst.app, 'node_modules')).filter((d) => /^(tsx|typescript|esbuild)$/.test(d))).toEqual([]);
    writeFileSync(join(inst.app, 'typed.ts'), "import type { App } from 'tsgi';\nconst app: App = (_e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('typed\\n')]; };\nexport default app;\n");
    const r = spawnSync(process.execPath, [join(inst.pkg, 'bin/tsgi.cjs'), 'cgi', join(inst.app, 'typed.ts')], { env: cgiEnv, cwd: inst.app, encoding: 'latin1' });
    if ((process.features as { typescript?: string | false }).typescript) {
      expect(r.stdout).toMatch(/\r\n\r\ntyped\n$/);
      expect(r.stderr).toBe('');
    } else {
      expect(r.stdout).toMatch(/^Status: 500 /);
      expect(r.stderr.replace(/^\S+ tsgi\[\d+\] error: /, 'tsgi error: ')).toBe(`tsgi error: ${join(inst.app, 'typed.ts')}: Node ${process.version} cannot load TypeScript by itself; add tsx (npm install tsx), use Node 22.18 or later, or build the app to JavaScript\n`);
    }
  });

  it('S6 killing the npx process stops the server it started (no orphan)', async () => {
    const port = await freePort();
    const npx = spawn('npx', ['--offline', 'tsgi', 'http', 'hello.cjs', '--bind', `127.0.0.1:${port}`], { cwd: inst.app, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    npx.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    await waitFor(() => portOpen(port), 'npx tsgi http to listen', 20_000);
    npx.kill('SIGTERM');
    await waitFor(async () => !(await portOpen(port)), 'the server to stop after npx was killed', 10_000);
    // It stopped the usual way: told SIGTERM, finished, exited.
    expect(err).toMatch(/hello\.cjs[^]*SIGTERM/);
  }, 40_000);
});


// `npm install git+https://…` (here git+file:// of this checkout's HEAD): npm clones it,
// installs its devDependencies there and runs its prepare script, which builds dist/,
// then packs and installs the result. Only what is committed is tested.
const head = spawnSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
describe.skipIf(head.status !== 0)('installed from a git URL', () => {
  it('npm install git+file://…#COMMIT builds tsgi while preparing the checkout; the command runs as installed', () => {
    const work = mkdtempSync(join(tmpdir(), 'tsgi-git-install-'));
    try {
      const app = join(work, 'app');
      mkdirSync(app);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
      const r = spawnSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn', `git+file://${ROOT}#${head.stdout.trim()}`],
        { cwd: app, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' }, timeout: 300_000 });
      expect(r.status, r.stderr).toBe(0);
      // npm 11 notes, once, that the prepare script it ran in its checkout is not covered by allowScripts (docs/packaging.md).
      expect(r.stderr.split('\n').filter((l) => /tsgi/.test(l))).toEqual(r.stderr.includes('install-scripts') ? ['npm warn install-scripts   tsgi@0.1.0 (prepare: node scripts/build.mjs)'] : []);
      writeFileSync(join(app, 'hello.js'), readFileSync(join(ROOT, 'bench/hello.js')));
      const ok = spawnSync(process.execPath, [join(app, 'node_modules/tsgi/bin/tsgi.cjs'), 'cgi', join(app, 'hello.js')], { env: cgiEnv, encoding: 'latin1' });
      expect(ok.stdout).toMatch(/^Status: 200 OK\r\n[^]*Hello, world!\n$/);
      expect(ok.stderr).toBe('');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 320_000);
});
