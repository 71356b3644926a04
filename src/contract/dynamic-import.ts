/**
 * import() with a specifier known only at run time. The build bundles to
 * CommonJS, where esbuild would turn `import('literal')` into require(); going
 * through this function keeps a real import() (an ES module app, tsx's hooks,
 * a built-in loaded only by the command that needs it).
 *
 * In the bundle it goes through lib/import.cjs: on Node 20 the bundle may run
 * from a V8 code cache (lib/load.cjs), which cannot call import() itself.
 */
const HELPER = '../lib/import.cjs';
let viaHelper: ((specifier: string) => Promise<unknown>) | null | undefined;

export function dynamicImport<T = unknown>(specifier: string): Promise<T> {
  if (viaHelper === undefined) {
    try {
      // `require` is the bundle's own (dist/tsgi.cjs); from the TypeScript sources (tests) there is none.
      viaHelper = typeof require === 'function' ? (require(HELPER) as (s: string) => Promise<unknown>) : null;
    } catch {
      viaHelper = null;
    }
  }
  return (viaHelper ? viaHelper(specifier) : import(specifier)) as Promise<T>;
}
