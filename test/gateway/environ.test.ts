import { describe, expect, it } from 'vitest';
import { completeEnviron } from '../../src/gateway/environ.js';
import { admit } from '../../src/gateway/intake.js';
import { RequestAbort } from '../../src/gateway/abort.js';
import { ErrorStream } from '../../src/gateway/errors-stream.js';
import { emptyInput } from '../../src/gateway/input.js';
import { makeEnviron } from '../helpers.js';

function complete(vars: Record<string, string>, multiprocess = false, runOnce = false) {
  return completeEnviron({ ...vars }, {
    input: emptyInput(), errors: new ErrorStream(() => {}), abort: new RequestAbort(), multiprocess, runOnce,
  });
}

describe('environ', () => {
  it('C2 the required CGI keys are always present', () => {
    const env = complete({});
    for (const k of ['REQUEST_METHOD', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'QUERY_STRING', 'SCRIPT_NAME', 'PATH_INFO']) {
      expect(typeof env[k], k).toBe('string');
    }
    expect(env).toMatchObject({ REQUEST_METHOD: 'GET', SERVER_PROTOCOL: 'HTTP/1.0', QUERY_STRING: '', SCRIPT_NAME: '', PATH_INFO: '', SERVER_PORT: '80' });
    expect(complete({ HTTP_HOST: 'example.org:8080' }).SERVER_NAME).toBe('example.org');
    expect(complete({ HTTPS: 'on' }).SERVER_PORT).toBe('443');
  });

  it('C3 optional variables without a value are absent; CONTENT_LENGTH "" means no body', () => {
    const env = complete({ CONTENT_TYPE: '', CONTENT_LENGTH: '', REMOTE_USER: '', HTTPS: '', AUTH_TYPE: '', QUERY_STRING: '', HTTP_X_EMPTY: '' });
    for (const k of ['CONTENT_TYPE', 'CONTENT_LENGTH', 'REMOTE_USER', 'HTTPS', 'AUTH_TYPE']) expect(k in env, k).toBe(false);
    expect(env.QUERY_STRING).toBe('');
    expect(env.HTTP_X_EMPTY).toBe(''); // a header sent with an empty value is still a header
    const plan = (vars: Record<string, string>): unknown => admit(vars, { mount: '', maxBodyBytes: 100, streams: true });
    expect(plan({ CONTENT_LENGTH: '' })).toEqual({ kind: 'none' });
    expect(plan({})).toEqual({ kind: 'none' });
    expect(plan({ CONTENT_LENGTH: '12' })).toEqual({ kind: 'length', length: 12 });
    expect(plan({ CONTENT_LENGTH: '-1' })).toMatchObject({ kind: 'refuse', status: '400 Bad Request' });
    expect(plan({ CONTENT_LENGTH: '1e3' })).toMatchObject({ kind: 'refuse', status: '400 Bad Request' });
  });

  it('C4 values stay bytes-as-strings (no decoding happens here)', () => {
    const env = complete({ PATH_INFO: '/caf\xe9', HTTP_X_RAW: '\xff\x80' });
    expect(env.PATH_INFO).toBe('/caf\xe9');
    expect(env.HTTP_X_RAW).toBe('\xff\x80');
  });

  it('C5 wsgi.version and wsgi.url_scheme', () => {
    expect(complete({})['wsgi.version']).toEqual([1, 0]);
    expect(complete({})['wsgi.url_scheme']).toBe('http');
    for (const on of ['on', 'ON', '1', 'yes', 'Yes']) expect(complete({ HTTPS: on })['wsgi.url_scheme'], on).toBe('https');
    for (const off of ['off', '0', 'no', '']) expect(complete({ HTTPS: off })['wsgi.url_scheme'], off).toBe('http');
    expect(complete({ REQUEST_SCHEME: 'https' })['wsgi.url_scheme']).toBe('https');
    expect(complete({ REQUEST_SCHEME: 'HTTPS' })['wsgi.url_scheme']).toBe('https');
  });

  it('C6 multithread is false; multiprocess and run_once as the adapter says', () => {
    const a = complete({}, true, true);
    expect([a['wsgi.multithread'], a['wsgi.multiprocess'], a['wsgi.run_once']]).toEqual([false, true, true]);
    const c = complete({}, false, false);
    expect([c['wsgi.multithread'], c['wsgi.multiprocess'], c['wsgi.run_once']]).toEqual([false, false, false]);
  });

  it('C7 HTTP_CONTENT_TYPE and HTTP_CONTENT_LENGTH never reach the app', () => {
    const env = complete({ HTTP_CONTENT_TYPE: 'text/x', HTTP_CONTENT_LENGTH: '5', CONTENT_TYPE: 'text/plain' });
    expect('HTTP_CONTENT_TYPE' in env).toBe(false);
    expect('HTTP_CONTENT_LENGTH' in env).toBe(false);
    expect(env.CONTENT_TYPE).toBe('text/plain');
  });

  it('C8 SCRIPT_NAME and PATH_INFO are "" or start with "/", and SCRIPT_NAME is never "/"', () => {
    const cases: [string, string, string, string][] = [
      ['/', '', '', '/'], ['/', '/x', '', '/x'], ['/app/', 'x', '/app', '/x'], ['/app/', '', '/app', '/'],
      ['app', 'x', '/app', '/x'], ['', 'x', '', '/x'], ['', '', '', ''], ['/app', '/a/b', '/app', '/a/b'],
      ['//', '/y', '', '/y'],
    ];
    for (const [sn, pi, esn, epi] of cases) {
      const env = complete({ SCRIPT_NAME: sn, PATH_INFO: pi });
      expect([env.SCRIPT_NAME, env.PATH_INFO], `${sn} ${pi}`).toEqual([esn, epi]);
    }
  });

  it('C9 wsgi.input and C10 wsgi.errors are present', () => {
    const { environ } = makeEnviron();
    expect(environ['wsgi.input'].read()).toHaveLength(0);
    expect(typeof environ['wsgi.errors'].write).toBe('function');
    expect(environ['tsgi.abort']).toBeInstanceOf(AbortSignal);
    expect(typeof environ['wsgi.file_wrapper']).toBe('function');
  });
});
