// PEP 3333's class-style app: the class is called per request and its
// instance is the response body. fromClass() makes it an App.
import { fromClass, type Environ, type StartResponse } from 'tsgi';

class Greeter {
  #environ: Environ;
  #start: StartResponse;

  constructor(environ: Environ, startResponse: StartResponse) {
    this.#environ = environ;
    this.#start = startResponse;
  }

  *[Symbol.iterator](): Iterator<Uint8Array> {
    this.#start('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
    yield Buffer.from(`Hello from a class, ${this.#environ.REQUEST_METHOD} ${this.#environ.PATH_INFO || '/'}\n`, 'latin1');
  }

  close(): void {
    this.#environ['wsgi.errors'].write('Greeter: close() called\n');
  }
}

export default fromClass(Greeter);
