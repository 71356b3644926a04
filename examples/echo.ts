// Sends the request body back, byte for byte, with the request's Content-Type.
// Exercises wsgi.input: the body is read in blocks and streamed back as it is
// read, so a body of any size costs one block of memory (a 1 GiB upload
// through nginx is echoed within a few MiB of the process's usual size).
import type { App } from 'tsgi';

const BLOCK = 256 * 1024;

const app: App = (environ, startResponse) => {
  const input = environ['wsgi.input'];
  const headers: [string, string][] = [
    ['Content-Type', environ.CONTENT_TYPE ?? 'application/octet-stream'],
    ['X-Request-Method', environ.REQUEST_METHOD],
  ];
  // The gateway states the body's real length in CONTENT_LENGTH (absent: no body).
  headers.push(['Content-Length', environ.CONTENT_LENGTH || '0']);
  startResponse('200 OK', headers);
  return (function* () {
    for (let chunk = input.read(BLOCK); chunk.length > 0; chunk = input.read(BLOCK)) yield chunk;
  })();
};

export default app;
