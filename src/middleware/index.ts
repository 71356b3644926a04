/**
 * `tsgi/middleware`: apps that wrap apps. None of them knows which adapter
 * it runs under; all of them import contract/ only (docs/design.md, "Layers").
 */
export { compose, type Middleware } from './compose.js';
export { validate, checkEnviron, type ValidateOptions } from './validate.js';
export { observe, watchBody, finalStatus, type BodyHooks, type Observed, type OnDone } from './body.js';
export { logging, escapeLog, type LoggingOptions } from './logging.js';
export { timing, type TimingOptions } from './timing.js';
export { auth, basicCredentials, safeEqual, type AuthInfo, type AuthOptions, type BasicCheck } from './auth.js';
export { cors, type CorsOptions } from './cors.js';
export { session, getSession, Session, MemoryStore, type MemoryStoreOptions, type SessionData, type SessionOptions, type SessionStore } from './session.js';
export { staticFiles, FileRange, type StaticOptions } from './static.js';
export { monitor, Metrics, type MonitorOptions, type MonitorStats } from './monitor.js';
export { debugErrors, errorPage, escapeHtml, type DebugErrorsOptions } from './errors.js';
export { normalizePath, underPrefix, type PathRule } from './paths.js';
