/**
 * The bundle's entry: the whole public API plus the CLI's main(). The build
 * turns this into one CommonJS file, dist/tsgi.cjs; the ESM entry points
 * re-export from it, so `tsgi cgi` and an app that imports 'tsgi' share one
 * instance of every class and of the logger.
 */
export * from './index.js';
export { main } from './cli/main.js';
