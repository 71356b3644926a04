// The layering of docs/design.md ("Layers"), checked on every `npm test` (dependency-cruiser):
//
//   contract <- gateway  <- server <- cli                 imports point down only;
//   contract <- protocol <- server                        gateway/ and protocol/ never import each other
//   middleware/, helpers/, bridges/                       contract/ only (plus node: built-ins and npm packages)
//
// A violation fails `npm test` and names the rule, the importing file and the
// imported one. src/index.ts and src/entry.ts are the package's entry points
// and may import every layer; nothing imports them.
'use strict';

/** A rule that lets files under `layer` import only the src/ folders in `allowed` (their own included). */
const onlyDown = (layer, allowed, why) => ({
  name: `layer-${layer}`,
  severity: 'error',
  comment: why,
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(?!(?:${allowed.join('|')})/)` },
});

module.exports = {
  forbidden: [
    onlyDown('contract', ['contract'], 'contract/ is the bottom layer: types, latin-1 helpers, validation, errors; it imports no other layer'),
    onlyDown('gateway', ['contract', 'gateway'], 'gateway/ runs one request and knows no protocol: it imports contract/ only'),
    onlyDown('protocol', ['contract', 'protocol'], 'protocol/ codecs import contract/ only, never gateway/ (what both need, such as the mount rule, lives in contract/)'),
    onlyDown('server', ['contract', 'gateway', 'protocol', 'server'], 'server/ imports contract/, gateway/ and protocol/ only, never cli/ or the side layers'),
    onlyDown('cli', ['contract', 'gateway', 'protocol', 'server', 'middleware', 'bridges', 'cli'], 'cli/ is the top layer; it may import any layer but not the package entry points'),
    onlyDown('middleware', ['contract', 'middleware'], 'middleware/ imports contract/ only (plus node: built-ins), so that it runs under any adapter'),
    onlyDown('helpers', ['contract', 'helpers'], 'helpers/ imports contract/ only (plus node: built-ins)'),
    onlyDown('bridges', ['contract', 'bridges'], 'bridges/ imports contract/ only (plus node: built-ins)'),
    {
      name: 'protocol-is-pure',
      severity: 'error',
      comment: 'protocol/ codecs are bytes in, values out: no sockets, files, processes or timers',
      from: { path: '^src/protocol/' },
      to: { dependencyTypes: ['core'], pathNot: '^(?:node:)?(?:buffer|string_decoder|util)$' },
    },
    {
      name: 'no-entry-point-imports',
      severity: 'error',
      comment: 'src/index.ts and src/entry.ts are entry points; code inside src/ imports the module it needs instead',
      from: { path: '^src/', pathNot: '^src/entry\\.ts$' },
      to: { path: '^src/(?:index|entry)\\.ts$' },
    },
    {
      name: 'not-to-tests',
      severity: 'error',
      comment: 'library code never imports test code',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
    {
      name: 'not-to-dev-dependencies',
      severity: 'error',
      comment: 'library code imports only runtime dependencies (package.json "dependencies")',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'unresolvable',
      severity: 'error',
      comment: 'an import that does not resolve cannot be checked (a typo, or a module missing from package.json)',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(?:dist|node_modules)/' },
    // TypeScript sources import each other as './x.js'.
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
