/**
 * The bundle's entry (dist/tsgi.cjs, loaded through lib/load.cjs): the public
 * API, the CLI's main(), and the internals that tsgi's own other bundles and
 * benchmarks take from it. The public entry points (`tsgi`, `tsgi/cgi` …)
 * re-export only their source module's names, so nothing below the first
 * line is reachable from the package's exports.
 */
export * from './index.js';
export { main } from './cli/main.js';
// What the middleware and helpers bundles take from contract/ (one instance of each, through this bundle).
export { HTTPS_ON, OPTIONAL_VARS, REQUIRED_VARS } from './contract/cgi-vars.js';
export { checkHeaders, checkStatus, describe, isToken, type CheckedHeaders } from './contract/head.js';
export { forgetAllLastSeen, LastSeen } from './contract/last-seen.js';
export { formatLogLine, log, logs, logText } from './contract/log.js';
export { accessLine, accessLog, escapeLog, requestLine, setAccessLog, type AccessFormat, type AccessRecord } from './contract/access-log.js';
export { nodeInternal, resetNodeInternals, type NodeInternal } from './contract/node-internals.js';
export { wantsUpgrade } from './contract/upgrade.js';
export { LIVE_INPUT, liveInput } from './contract/live-input.js';
export { WRAPPED_BODY } from './contract/types.js';
// For the in-process benchmarks and tests that run a built copy.
export { RequestAbort } from './gateway/abort.js';
export { ERROR_BODY, runApp, type ResponseSink } from './gateway/engine.js';
export { FdSource, InputStream, MemorySource } from './gateway/input.js';
export { paceBuffers, setGcPace } from './gateway/gc-pacer.js';
