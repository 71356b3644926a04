// Build: tsc checks types and writes the .d.ts files; esbuild writes ALL of
// the JavaScript as ONE CommonJS file, dist/tsgi.cjs, and every entry point
// (`tsgi`, `tsgi/cgi` …) is a small facade over it, once as an ES module
// (.js) and once as CommonJS (.cjs), both exporting the same names.
//
// Why: a CGI request pays Node's module loading at every request. Each ESM
// file costs ~1 ms and each `node:` built-in imported as ESM ~0.5-2.5 ms,
// where one CommonJS file and require() of built-ins cost next to nothing
// (docs/design.md, "Cold start"; `npm run bench:cgi`). One file also means
// one instance of every class and of the logger, whichever way a program
// reaches tsgi.
//
// The output holds nothing specific to this machine or this checkout: no code
// cache (lib/load.cjs keeps one outside the package), no absolute path.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = `${ROOT}src/`;
const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8'));
rmSync(`${ROOT}dist`, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json', '--emitDeclarationOnly'], { stdio: 'inherit', cwd: ROOT });

const common = {
  absWorkingDir: ROOT,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node22',
  packages: 'external',
  // Less source to read at every start; names stay readable in stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: true,
  logLevel: 'warning',
};
await build({
  ...common,
  entryPoints: ['src/entry.ts'],
  outfile: 'dist/tsgi.cjs',
  define: { __TSGI_VERSION__: JSON.stringify(pkg.version) },
});

// The optional layers, each its own bundle so that a CGI request of an app
// that uses neither pays nothing for them (nor for cookie, busboy, mime-types).
// They import contract/ only (docs/design.md, "Layers"), and that import is
// redirected to the main bundle through lib/load.cjs: one instance of
// ContractError and of the logger, whichever bundle a program reaches first.
const contractFiles = new Set();
const toMainBundle = {
  name: 'contract-from-main-bundle',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const target = new URL(args.path, `file://${args.resolveDir}/`).pathname;
      if (!target.startsWith(SRC)) return undefined;
      const layer = target.slice(SRC.length).split('/')[0];
      const from = args.importer.startsWith(SRC) ? args.importer.slice(SRC.length).split('/')[0] : layer;
      if (layer === from) return undefined;
      if (layer !== 'contract') throw new Error(`${args.importer}: ${layer}/ is off limits here; import contract/ only (docs/design.md, "Layers")`);
      contractFiles.add(`src/${target.slice(SRC.length).replace(/\.js$/, '.ts')}`);
      return { path: '../lib/load.cjs', external: true };
    });
  },
};
for (const layer of ['middleware', 'helpers', 'bridges']) {
  await build({ ...common, entryPoints: [`src/${layer}/index.ts`], outfile: `dist/${layer}.cjs`, plugins: [toMainBundle] });
}

/** The run-time names a source module exports, as esbuild sees them (types excluded). */
async function exportsOf(entry) {
  const r = await build({ ...common, entryPoints: [entry], format: 'esm', write: false, metafile: true, sourcemap: false, outdir: 'dist/.names' });
  return Object.values(r.metafile.outputs).find((o) => o.entryPoint)?.exports.slice().sort() ?? [];
}

// The main bundle (dist/tsgi.cjs) must export every name a layer takes from
// contract/: the layers reach contract/ through it.
const bundleNames = new Set(await exportsOf('src/entry.ts'));
for (const file of contractFiles) {
  for (const name of await exportsOf(file)) {
    if (!bundleNames.has(name)) throw new Error(`${file} exports ${name}, which src/entry.ts does not re-export: the middleware and helpers bundles reach contract/ through it`);
  }
}

// Entry points: the source module that defines the names, and the CommonJS
// file that holds the code. Each gets an ES module facade and a CommonJS one
// with the same names (package.json "exports": "import"/"default" and
// "require"). The ES module facade require()s the bundle rather than
// `export * from` it: importing CommonJS from ESM makes Node lex the whole
// file for export names, which costs ~50 ms at every CGI request.
const entries = [
  ['dist/index', 'src/index.ts', 'lib/load.cjs'],
  ['dist/server/cgi', 'src/server/cgi.ts', 'lib/load.cjs'],
  ['dist/server/http', 'src/server/http.ts', 'lib/load.cjs'],
  ['dist/server/fastcgi', 'src/server/fastcgi.ts', 'lib/load.cjs'],
  ['dist/server/uwsgi', 'src/server/uwsgi.ts', 'lib/load.cjs'],
  ['dist/server/scgi', 'src/server/scgi.ts', 'lib/load.cjs'],
  ['dist/middleware', 'src/middleware/index.ts', 'dist/middleware.cjs'],
  ['dist/helpers', 'src/helpers/index.ts', 'dist/helpers.cjs'],
  ['dist/bridges', 'src/bridges/index.ts', 'dist/bridges.cjs'],
];
for (const [out, source, code] of entries) {
  const names = await exportsOf(source);
  // The types of the CommonJS facade: a .d.cts re-exporting the entry's .d.ts,
  // so that a CommonJS consumer under moduleResolution node16 gets them as
  // CommonJS (a .d.ts in a "type": "module" package reads as ES module).
  const dts = source.replace(/^src\//, 'dist/').replace(/\.ts$/, '');
  writeFileSync(`${ROOT}${dts}.d.cts`, `export * from './${dts.split('/').pop()}.js';\n`);
  let from = relative(dirname(`${ROOT}${out}`), `${ROOT}${code}`);
  if (!from.startsWith('.')) from = `./${from}`;
  mkdirSync(dirname(`${ROOT}${out}`), { recursive: true });
  const header = `// Generated by scripts/build.mjs from ${source}: the code lives in ${code === 'lib/load.cjs' ? 'dist/tsgi.cjs, loaded through lib/load.cjs' : code}.`;
  writeFileSync(`${ROOT}${out}.js`, [
    header,
    "import { createRequire } from 'node:module';",
    `const tsgi = createRequire(import.meta.url)('${from}');`,
    `export const { ${names.join(', ')} } = tsgi;`,
    '',
  ].join('\n'));
  // The layers' own bundles are already exactly their entry's names.
  if (code !== `${out}.cjs`) {
    writeFileSync(`${ROOT}${out}.cjs`, [
      header,
      "'use strict';",
      `const tsgi = require('${from}');`,
      `module.exports = { ${names.map((n) => `${n}: tsgi.${n}`).join(', ')} };`,
      '',
    ].join('\n'));
  }
}

// Every subpath the package exports has its types both ways, and is in
// typesVersions: a consumer with moduleResolution node10 reads only
// typesVersions, a CommonJS consumer under node16/nodenext only the
// "require" condition's .d.cts. A subpath added to "exports" without them
// fails the build here instead of a consumer's compile (TS2307, TS1479).
{
  const { existsSync } = await import('node:fs');
  const problems = [];
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue; // ./package.json
    const esm = target.default?.types;
    const cjs = target.require?.types;
    if (typeof esm !== 'string' || !esm.endsWith('.d.ts')) problems.push(`${subpath}: "default" has no .d.ts "types"`);
    if (typeof cjs !== 'string' || !cjs.endsWith('.d.cts')) problems.push(`${subpath}: "require" has no .d.cts "types"`);
    for (const file of [esm, cjs]) if (typeof file === 'string' && !existsSync(`${ROOT}${file}`)) problems.push(`${subpath}: ${file} was not built`);
    if (subpath !== '.') {
      const listed = pkg.typesVersions?.['*']?.[subpath.slice(2)];
      if (!Array.isArray(listed) || listed[0] !== esm?.slice(2)) problems.push(`${subpath}: typesVersions["*"]["${subpath.slice(2)}"] must be ["${esm?.slice(2)}"]`);
    }
  }
  if (problems.length > 0) throw new Error(`package.json types:\n  ${problems.join('\n  ')}`);
}
