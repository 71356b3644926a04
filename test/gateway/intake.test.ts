// The request intake: one plan for every adapter's body, the mount split, the
// refusal response, and the environ with the body's real length.
import { Buffer } from 'node:buffer';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemorySource } from '../../src/gateway/input.js';
import { DEFAULT_LIMITS, admit, environFor, normalizeMount, refusalResponse, spoolLimits, varsLimits } from '../../src/gateway/intake.js';
import { RequestAbort } from '../../src/gateway/abort.js';
import { ErrorStream } from '../../src/gateway/errors-stream.js';

const extras = { errors: new ErrorStream(() => {}), abort: new RequestAbort(), multiprocess: false, runOnce: false };

/** SCRIPT_NAME and PATH_INFO as the app sees them, after the intake (mount '' unless given). */
const split = (vars: Record<string, string>, mount = ''): [string, string] => {
  admit(vars, { mount: normalizeMount(mount), maxBodyBytes: 0, streams: false });
  const e = environFor(vars, null, extras);
  return [e.SCRIPT_NAME as string, e.PATH_INFO as string];
};

const temps: string[] = [];
afterAll(() => { for (const d of temps) rmSync(d, { recursive: true, force: true }); });
/** A fresh cgi-bin: regular files env and app.fcgi, café.fcgi (a UTF-8 name), link (a symlink to env), a directory sub. */
function scripts(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-intake-'));
  temps.push(dir);
  for (const name of ['env', 'app.fcgi', 'café.fcgi']) writeFileSync(join(dir, name), '#!/bin/sh\n', { mode: 0o755 });
  symlinkSync(join(dir, 'env'), join(dir, 'link'));
  mkdirSync(join(dir, 'sub'));
  return dir;
}

describe('intake', () => {
  it('S1 one set of defaults for every adapter', () => {
    expect(DEFAULT_LIMITS).toEqual({ maxBodyBytes: 100 * 1024 * 1024, memoryBodyBytes: 1024 * 1024, memoryBodyTotalBytes: 64 * 1024 * 1024, maxVarsBytes: 1024 * 1024, maxVars: 1000 });
    expect(spoolLimits({})).toEqual({ maxBytes: 100 * 1024 * 1024, memoryBytes: 1024 * 1024, memoryTotalBytes: 64 * 1024 * 1024, dir: undefined });
    expect(spoolLimits({ maxBodyBytes: 5, memoryBodyBytes: 2, spoolDir: '/x', memoryBodyTotalBytes: 9 })).toEqual({ maxBytes: 5, memoryBytes: 2, memoryTotalBytes: 9, dir: '/x' });
    expect(varsLimits({ maxVars: 3 })).toEqual({ maxBytes: 1024 * 1024, maxCount: 3 });
  });

  it('C3 S1 the body plan: none, a length, a stream, 400 and 413', () => {
    const o = { mount: '', maxBodyBytes: 1000, streams: true };
    expect(admit({}, o)).toEqual({ kind: 'none' });
    expect(admit({ CONTENT_LENGTH: '0' }, o)).toEqual({ kind: 'none' });
    expect(admit({ CONTENT_LENGTH: '1000' }, o)).toEqual({ kind: 'length', length: 1000 });
    expect(admit({ CONTENT_LENGTH: '1001' }, o)).toEqual({ kind: 'refuse', status: '413 Content Too Large', reason: 'the request body of 1001 bytes exceeds the limit of 1000 bytes' });
    expect(admit({ CONTENT_LENGTH: ' 5' }, o)).toEqual({ kind: 'refuse', status: '400 Bad Request', reason: 'CONTENT_LENGTH " 5" is not a number' });
    expect(admit({ CONTENT_LENGTH: '9'.repeat(16) }, o)).toMatchObject({ kind: 'refuse', status: '413 Content Too Large' });
    expect(admit({ CONTENT_LENGTH: '9'.repeat(400) }, o)).toMatchObject({ kind: 'refuse', status: '413 Content Too Large' });
    expect(admit({ HTTP_TRANSFER_ENCODING: 'chunked' }, o)).toEqual({ kind: 'stream' });
    expect(admit({ HTTP_TRANSFER_ENCODING: 'chunked', CONTENT_LENGTH: '' }, o)).toEqual({ kind: 'stream' });
  });

  it('U3 a transport that cannot delimit a body (uwsgi) never streams: Transfer-Encoding does not change the plan', () => {
    const o = { mount: '', maxBodyBytes: 1000, streams: false };
    expect(admit({ HTTP_TRANSFER_ENCODING: 'chunked' }, o)).toEqual({ kind: 'none' });
    expect(admit({ HTTP_TRANSFER_ENCODING: 'chunked', CONTENT_LENGTH: '7' }, o)).toEqual({ kind: 'length', length: 7 });
  });

  it('F13 U8 C8 the mount split, one rule for every adapter (a prefix without a leading slash works too)', () => {
    const split = (vars: Record<string, string>, mount: string): Record<string, string> => {
      admit(vars, { mount: normalizeMount(mount), maxBodyBytes: 0, streams: false });
      return { SCRIPT_NAME: vars.SCRIPT_NAME!, PATH_INFO: vars.PATH_INFO! };
    };
    expect(split({ SCRIPT_NAME: '/app/x' }, 'app')).toEqual({ SCRIPT_NAME: '/app', PATH_INFO: '/x' });
    expect(split({ SCRIPT_NAME: '/app/x' }, '')).toEqual({ SCRIPT_NAME: '', PATH_INFO: '/app/x' });
    expect(split({ PATH_INFO: '/app' }, '/app/')).toEqual({ SCRIPT_NAME: '/app', PATH_INFO: '' });
    expect(split({ SCRIPT_NAME: '', PATH_INFO: '/application' }, '/app')).toEqual({ SCRIPT_NAME: '', PATH_INFO: '/application' });
    expect(split({ SCRIPT_NAME: '', PATH_INFO: '/app/y/z' }, '/app')).toEqual({ SCRIPT_NAME: '/app', PATH_INFO: '/y/z' });
    expect(normalizeMount('/')).toBe('');
    expect(normalizeMount(' app// ')).toBe('/app');
  });

  it('F13 C8 an absent PATH_INFO: a SCRIPT_FILENAME that is an existing regular file (mod_cgi, mod_fcgid, fcgiwrap) keeps SCRIPT_NAME (RFC 3875 §4.1.13)', () => {
    const bin = scripts();
    // Apache mod_cgi / mod_fcgid: the script asked for with nothing after it.
    expect(split({ SCRIPT_NAME: '/cgi-bin/env', SCRIPT_FILENAME: join(bin, 'env') })).toEqual(['/cgi-bin/env', '']);
    expect(split({ SCRIPT_NAME: '/app.fcgi', SCRIPT_FILENAME: join(bin, 'app.fcgi') }, '/app.fcgi')).toEqual(['/app.fcgi', '']);
    expect(split({ SCRIPT_NAME: '/app.fcgi', SCRIPT_FILENAME: join(bin, 'nowhere'), PATH_INFO: '/x' })).toEqual(['/app.fcgi', '/x']);
    // A symlink to a script (Debian's /usr/lib/cgi-bin often holds those) is the script.
    expect(split({ SCRIPT_NAME: '/cgi-bin/link', SCRIPT_FILENAME: join(bin, 'link') })).toEqual(['/cgi-bin/link', '']);
    // The name is the server's bytes (latin1 chars): a UTF-8 file name is found.
    const cafe = Buffer.from(join(bin, 'café.fcgi')).toString('latin1');
    expect(split({ SCRIPT_NAME: '/caf%C3%A9.fcgi', SCRIPT_FILENAME: cafe })).toEqual(['/caf%C3%A9.fcgi', '']);
    // A script at / (ScriptAlias / /srv/app.cgi): C8 moves the slash to PATH_INFO.
    expect(split({ SCRIPT_NAME: '/', SCRIPT_FILENAME: join(bin, 'env') })).toEqual(['', '/']);
  });

  it('F13 C8 an absent PATH_INFO: a missing file, a directory, a relative path, proxy: or none (nginx fastcgi.conf / fastcgi_params, mod_proxy_fcgi) make the whole path PATH_INFO', () => {
    const bin = scripts();
    // nginx's fastcgi.conf: $document_root$fastcgi_script_name for every URL.
    expect(split({ SCRIPT_NAME: '/a/b', SCRIPT_FILENAME: `${bin}/a/b` })).toEqual(['', '/a/b']);
    expect(split({ SCRIPT_NAME: '/a/b', SCRIPT_FILENAME: `${bin}/a/b` }, '/a')).toEqual(['/a', '/b']);
    expect(split({ SCRIPT_NAME: '/', SCRIPT_FILENAME: `${bin}/` })).toEqual(['', '/']);
    expect(split({ SCRIPT_NAME: '/sub', SCRIPT_FILENAME: join(bin, 'sub') })).toEqual(['', '/sub']);
    expect(split({ SCRIPT_NAME: '/sub/', SCRIPT_FILENAME: `${bin}/sub/` })).toEqual(['', '/sub/']);
    // A file name with a slash after it (ENOTDIR), a NUL byte, a name too long (ENAMETOOLONG), a path longer than PATH_MAX: no script, no throw.
    expect(split({ SCRIPT_NAME: '/env/', SCRIPT_FILENAME: `${join(bin, 'env')}/` })).toEqual(['', '/env/']);
    expect(split({ SCRIPT_NAME: '/env', SCRIPT_FILENAME: `${join(bin, 'env')}\0x` })).toEqual(['', '/env']);
    expect(split({ SCRIPT_NAME: '/env', SCRIPT_FILENAME: `${bin}/${'x'.repeat(300)}` })).toEqual(['', '/env']);
    expect(split({ SCRIPT_NAME: '/env', SCRIPT_FILENAME: `${bin}/${'x/'.repeat(2100)}env` })).toEqual(['', '/env']);
    // A relative path is no file-system answer from the server, even one that exists from here.
    expect(existsSync('package.json')).toBe(true);
    expect(split({ SCRIPT_NAME: '/package.json', SCRIPT_FILENAME: 'package.json' })).toEqual(['', '/package.json']);
    // nginx's fastcgi_params (no SCRIPT_FILENAME) and mod_proxy_fcgi (a proxy: URL): the whole path.
    expect(split({ SCRIPT_NAME: '/app.fcgi' })).toEqual(['', '/app.fcgi']);
    expect(split({ SCRIPT_NAME: '/x/y', SCRIPT_FILENAME: 'proxy:fcgi://localhost/x/y' })).toEqual(['', '/x/y']);
    expect(split({ SCRIPT_NAME: '/x/y', SCRIPT_FILENAME: '' })).toEqual(['', '/x/y']);
  });

  it('F13 each SCRIPT_FILENAME is looked up once, in a cache that starts over after 256 names', () => {
    const bin = scripts();
    const gone = join(bin, 'gone.fcgi');
    writeFileSync(gone, '');
    expect(split({ SCRIPT_NAME: '/gone.fcgi', SCRIPT_FILENAME: gone })).toEqual(['/gone.fcgi', '']);
    rmSync(gone);
    // Remembered: the second request does not look at the file system.
    expect(split({ SCRIPT_NAME: '/gone.fcgi', SCRIPT_FILENAME: gone })).toEqual(['/gone.fcgi', '']);
    // 256 other names (nginx fastcgi.conf URLs) fill the cache; it starts over and the file is looked up again.
    for (let i = 0; i < 256; i++) expect(split({ SCRIPT_NAME: `/u${i}`, SCRIPT_FILENAME: `${bin}/u${i}` })).toEqual(['', `/u${i}`]);
    expect(split({ SCRIPT_NAME: '/gone.fcgi', SCRIPT_FILENAME: gone })).toEqual(['', '/gone.fcgi']);
  });

  it('S1 a refusal is a fixed text/plain response naming the reason', () => {
    const r = refusalResponse({ status: '413 Content Too Large', reason: 'too big' });
    expect(r).toEqual({ status: '413 Content Too Large', headers: [['Content-Type', 'text/plain'], ['Content-Length', '8']], body: Buffer.from('too big\n') });
  });

  it('C9 the environ states the body it got: real length, or no CONTENT_LENGTH for an empty streamed body', () => {
    const streamed = environFor({ HTTP_TRANSFER_ENCODING: 'chunked' }, { source: new MemorySource(Buffer.from('abc')), length: 3 }, extras);
    expect(streamed.CONTENT_LENGTH).toBe('3');
    expect(Buffer.from(streamed['wsgi.input'].read()).toString()).toBe('abc');
    const empty = environFor({ HTTP_TRANSFER_ENCODING: 'chunked' }, { source: new MemorySource(Buffer.alloc(0)), length: 0 }, extras);
    expect('CONTENT_LENGTH' in empty).toBe(false);
    expect(empty['wsgi.input'].read().length).toBe(0);
    const none = environFor({ CONTENT_LENGTH: '0' }, null, extras);
    expect(none.CONTENT_LENGTH).toBe('0');
  });
});
