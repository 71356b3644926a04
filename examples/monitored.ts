// An app with monitor(): request count, errors, latency percentiles and
// memory at /_monitor (JSON) and /_monitor/metrics (Prometheus text).
//   npx tsgi fastcgi examples/monitored.ts --socket /run/tsgi/app.sock
// Figures are per process: scrape each backend. Put auth() in front of the
// endpoint if it must not be public.
import type { App } from 'tsgi';
import { compose, monitor } from 'tsgi/middleware';

const app: App = (environ, startResponse) => {
  if (environ.PATH_INFO === '/fail') throw new Error('an app error, counted by the monitor');
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [Buffer.from('Hello! See /_monitor and /_monitor/metrics.\n')];
};

export default compose(app, monitor({ path: '/_monitor' }));
