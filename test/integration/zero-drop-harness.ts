// What the P11 test and bench/reload.js share: nginx in front of each
// protocol with keepalive upstream connections (uwsgi and SCGI have none: nginx
// opens a connection per request), and wrk POSTing 2 KB bodies through it.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, portOpen, waitFor, which, type Running } from './servers.js';

export type Proto = 'fastcgi' | 'uwsgi' | 'scgi' | 'http';
export interface Front { port: number }

/** The location block of each protocol, to `@UP@` (a unix socket or host:port). */
const PASS: Record<Proto, string> = {
  fastcgi: `include /etc/nginx/fastcgi_params;
            fastcgi_keep_conn on;
            fastcgi_pass tsgi;`,
  uwsgi: `include /etc/nginx/uwsgi_params;
            uwsgi_pass tsgi;`,
  scgi: `include /etc/nginx/scgi_params;
            scgi_param PATH_INFO $document_uri;
            scgi_pass tsgi;`,
  http: `proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://tsgi;`,
};

/** nginx on a free port in front of `upstream`, with `keepalive 16` (the docs' recommendation). */
export async function startFront(proto: Proto, dir: string, upstream: string): Promise<Running & Front> {
  const port = await freePort();
  const text = `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path ${dir}/client_body;
    fastcgi_temp_path ${dir}/fastcgi_temp;
    proxy_temp_path ${dir}/proxy_temp;
    uwsgi_temp_path ${dir}/uwsgi_temp;
    scgi_temp_path ${dir}/scgi_temp;
    upstream tsgi {
        server ${upstream};
        keepalive 16;
        # The dev server closes a connection idle for 5 s: nginx must let it go first.
        ${proto === 'http' ? 'keepalive_timeout 4s;' : ''}
    }
    server {
        listen 127.0.0.1:${port};
        location / {
            ${PASS[proto]}
        }
    }
}
`;
  const file = join(dir, 'nginx.conf');
  const errors = join(dir, 'error.log');
  writeFileSync(file, text);
  writeFileSync(errors, '');
  const child = spawn(which('nginx')!, ['-p', dir, '-c', file, '-e', errors], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const log = (): string => out + (existsSync(errors) ? readFileSync(errors, 'utf8') : '');
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${log()}`);
    return portOpen(port);
  }, 'nginx to listen');
  return {
    child, dir, port, log,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
      setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 5000).unref();
    }),
  };
}

/** nginx's error-log lines about the upstream (a dropped request shows as one). */
export function upstreamErrors(log: string): string[] {
  return log.split('\n').filter((l) => /\[(error|crit|alert|emerg)\]/.test(l) || /prematurely closed|reset by peer|broken pipe/i.test(l));
}

export interface LoadResult { requests: number; non2xx: number; socketErrors: number; output: string }

/** wrk -t1 -c16 POSTing a 2 KB body to 127.0.0.1:port for `seconds` (bounded in time). */
export function postLoad(port: number, seconds: number, dir = '/tmp', connections = 16): Promise<LoadResult> {
  const script = join(dir, `post-${process.pid}.lua`);
  writeFileSync(script, `wrk.method = "POST"\nwrk.body = string.rep("x", 2048)\nwrk.headers["Content-Type"] = "application/octet-stream"\n`);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '-s', script, `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    child.on('error', reject);
    child.on('exit', () => {
      const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? NaN);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
      const s = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
      const socketErrors = s ? Number(s[1]) + Number(s[2]) + Number(s[3]) + Number(s[4]) : 0;
      resolve({ requests, non2xx, socketErrors, output });
    });
  });
}
