/**
 * PEP 3333's class-style application ("AppClass"): the class is called with
 * (environ, startResponse) and its instance is the body.
 */
import { ContractError } from '../contract/errors.js';
import type { App, Body, Environ, StartResponse } from '../contract/types.js';

/** A class whose instances are response bodies. */
export type AppClass = new (environ: Environ, startResponse: StartResponse) => Body;

/** Wraps a PEP 3333 class-style app as an App. */
export function fromClass(AppClass: AppClass): App {
  if (typeof AppClass !== 'function' || AppClass.prototype === undefined) {
    throw new ContractError('ERR_BAD_APP_CLASS', 'C19', 'fromClass() takes a class whose instances are iterables of Uint8Array chunks');
  }
  const proto = AppClass.prototype as Record<symbol, unknown>;
  if (typeof proto[Symbol.iterator] !== 'function' && typeof proto[Symbol.asyncIterator] !== 'function') {
    throw new ContractError('ERR_BAD_APP_CLASS', 'C19',
      `fromClass(${AppClass.name || 'class'}): the class must define [Symbol.iterator]() or [Symbol.asyncIterator]() yielding Uint8Array chunks`);
  }
  const app: App = (environ, startResponse) => new AppClass(environ, startResponse);
  Object.defineProperty(app, 'name', { value: AppClass.name || 'appClass' });
  return app;
}
