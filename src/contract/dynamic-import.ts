/**
 * import() that also works in the bundle lib/load.cjs compiles from a V8 code
 * cache: code restored from a cache has no dynamic-import callback of its own
 * in Node 20, so the loader provides one (compiled the usual way).
 */
export function dynamicImport<T = unknown>(specifier: string): Promise<T> {
  const injected = (globalThis as Record<symbol, unknown>)[Symbol.for('tsgi.import')];
  return (typeof injected === 'function' ? (injected as (s: string) => Promise<T>)(specifier) : import(specifier)) as Promise<T>;
}
