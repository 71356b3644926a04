/**
 * import() with a specifier known only at run time. The build bundles to
 * CommonJS, where esbuild would turn `import('literal')` into require(); going
 * through this function keeps a real import() (an ES module app, tsx's hooks,
 * a built-in loaded only by the command that needs it).
 */
export function dynamicImport<T = unknown>(specifier: string): Promise<T> {
  return import(specifier) as Promise<T>;
}
