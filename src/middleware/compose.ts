/**
 * `compose(app, ...layers)`: wraps an app in middleware. Layers are listed
 * outermost first, so a request meets them in the order written:
 * `compose(app, logging(), cors(…))` logs what CORS answered.
 */
import { GatewayError } from '../contract/errors.js';
import { describe } from '../contract/head.js';
import type { App } from '../contract/types.js';

/** Middleware: takes the app it wraps and returns the wrapping app. */
export type Middleware = (app: App) => App;

/** Wraps `app` in `layers`, the first of them outermost. */
export function compose(app: App, ...layers: Middleware[]): App {
  if (typeof app !== 'function') throw new GatewayError('ERR_BAD_OPTION', `compose(app, …): app must be a function, got ${describe(app)}`);
  let wrapped = app;
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    if (typeof layer !== 'function') {
      throw new GatewayError('ERR_BAD_OPTION', `compose(): layer #${i + 1} is ${describe(layer)}; pass a middleware (e.g. logging(), not logging)`);
    }
    wrapped = layer(wrapped);
    if (typeof wrapped !== 'function') throw new GatewayError('ERR_BAD_OPTION', `compose(): layer #${i + 1} did not return an app`);
  }
  return wrapped;
}
