// Prints the sorted environ, one `KEY = value` line each, like wsgiref's
// demo_app. CGI values are bytes-as-strings and go out byte for byte.
import type { App } from 'tsgi';

const app: App = (environ, startResponse) => {
  const lines = ['Hello world!', ''];
  for (const key of Object.keys(environ).sort()) {
    const v = environ[key];
    lines.push(`${key} = ${typeof v === 'string' ? JSON.stringify(v) : describe(v)}`);
  }
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  // latin1: each character of a bytes-as-string is one byte.
  return [Buffer.from(`${lines.join('\n')}\n`, 'latin1')];
};

function describe(v: unknown): string {
  if (Array.isArray(v) || typeof v === 'boolean' || typeof v === 'number') return JSON.stringify(v);
  if (typeof v === 'function') return `[function ${v.name}]`;
  return `[${(v as object)?.constructor?.name ?? typeof v}]`;
}

export default app;
