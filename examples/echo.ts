// Sends the request body back, byte for byte, with the request's Content-Type.
// Exercises wsgi.input: read() with no size returns the whole body.
import type { App } from 'tsgi';

const app: App = (environ, startResponse) => {
  const body = environ['wsgi.input'].read();
  startResponse('200 OK', [
    ['Content-Type', environ.CONTENT_TYPE ?? 'application/octet-stream'],
    ['X-Request-Method', environ.REQUEST_METHOD],
  ]);
  return [body];
};

export default app;
