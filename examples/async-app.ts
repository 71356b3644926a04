// An app that awaits I/O before it responds, then streams: an async function
// returning an async generator. The gateway waits for both, and stops the
// generator (its finally block runs) if the client goes away.
//   npx tsgi http examples/async-app.ts
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { App } from 'tsgi';

const self = fileURLToPath(import.meta.url);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const app: App = async (environ, startResponse) => {
  // I/O before the response starts: two file system calls, concurrently.
  const [source, info] = await Promise.all([readFile(self, 'utf8'), stat(self)]);
  const lines = source.split('\n').length;
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  const abort = environ['tsgi.abort'];
  return (async function* () {
    yield Buffer.from(`This file has ${lines} lines and ${info.size} bytes.\n`);
    for (let i = 1; i <= 3 && !abort.aborted; i++) {
      await sleep(10); // more I/O while streaming
      yield Buffer.from(`tick ${i}\n`);
    }
  })();
};

export default app;
