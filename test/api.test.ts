// The public API: what `tsgi` exports is what users need and nothing else.
// Internals (the engine, the environ builder, the streams, the spool, the log
// plumbing) are reachable from tsgi's own bundles and tests, not from 'tsgi'.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const PUBLIC = [
  'ContractError', 'DEFAULT_LIMITS', 'GatewayError', 'fileWrapper', 'fromClass', 'fromWsgiString', 'isLatin1', 'latin1',
  'latin1Bytes', 'runCgi', 'serveFastCgi', 'serveHttp', 'serveScgi', 'serveUwsgi', 'setLogger', 'toFetchHandler', 'toNodeListener', 'wsgiString',
];

describe('public API', () => {
  it("'tsgi' exports exactly the public names, the same from import() and require()", async () => {
    const esm = Object.keys(await import('tsgi' as string)).filter((k) => k !== 'default').sort();
    const cjs = Object.keys(createRequire(import.meta.url)('tsgi')).sort();
    expect(esm).toEqual(PUBLIC);
    expect(cjs).toEqual(PUBLIC);
  });

  it('internals are not reachable from the package: no runApp, completeEnviron, BodySpool, InputStream', async () => {
    const api = await import('tsgi' as string) as Record<string, unknown>;
    for (const name of ['runApp', 'runRequest', 'completeEnviron', 'BodySpool', 'InputStream', 'FdSource', 'RequestAbort', 'log', 'setAccessLog', 'main']) {
      expect(api[name], name).toBeUndefined();
    }
    expect(() => createRequire(import.meta.url)('tsgi/lib/load.cjs')).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED|not defined by "exports"/);
  });
});
