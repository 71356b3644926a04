// The simplest tsgi app: one chunk of bytes. Run it with
//   npx tsgi http examples/hello.ts
import type { App } from 'tsgi';

const app: App = (_environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [Buffer.from('Hello, world!\n')];
};

export default app;
