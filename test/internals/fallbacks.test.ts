// docs/internals.md: every private Node internal tsgi uses has a fallback for
// a Node without it. TSGI_NO_NODE_INTERNALS switches each off, so that its
// fallback runs here, on a Node that has them all; each test checks the
// behaviour both ways.
import { fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resetNodeInternals } from '../../src/contract/node-internals.js';
import { bindSocket } from '../../src/server/bind.js';
import { canHandOff, detach } from '../../src/server/handoff.js';
import { guardChannel } from '../../src/server/arbiter/worker-channel.js';
import { run } from '../helpers.js';
import { ROOT } from '../integration/servers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  delete process.env.TSGI_NO_NODE_INTERNALS;
  resetNodeInternals();
});

/** Runs `f` with the internals named switched off (none: all in use). */
async function without<T>(names: string, f: () => T | Promise<T>): Promise<T> {
  if (names === '') delete process.env.TSGI_NO_NODE_INTERNALS;
  else process.env.TSGI_NO_NODE_INTERNALS = names;
  resetNodeInternals();
  try {
    return await f();
  } finally {
    delete process.env.TSGI_NO_NODE_INTERNALS;
    resetNodeInternals();
  }
}

async function acceptedPair(): Promise<Socket> {
  const server = createServer();
  cleanups.push(() => server.close());
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  cleanups.push(() => client.destroy());
  const socket = await accepted;
  cleanups.push(() => socket.destroy());
  return socket;
}

describe('Node internals and their fallbacks', () => {
  it('P11 readStop: used, a connection can be handed off; switched off, it is not (the worker serves it on)', async () => {
    const socket = await acceptedPair();
    await without('', () => expect(canHandOff(socket)).toBe(true));
    await without('readStop', () => {
      expect(canHandOff(socket)).toBe(false);
      expect(detach(socket)).toBe(null);
    });
    // all, too
    await without('all', () => expect(canHandOff(socket)).toBe(false));
    expect(socket.destroyed).toBe(false);
  });

  it('P11 kChannelHandle: used, the IPC channel is guarded; switched off, it is left as Node made it', async () => {
    const child = fork(join(ROOT, 'test/fixtures/adopt-child.cjs'), [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    cleanups.push(() => child.kill());
    const before = Object.getOwnPropertySymbols(child).find((k) => k.description === 'kChannelHandle');
    const channel = (child as unknown as Record<symbol, { onread: unknown }>)[before!]!;
    const nodeOwn = channel.onread;
    expect(await without('kChannelHandle', () => guardChannel(child, () => {}))).toBe(false);
    expect(channel.onread).toBe(nodeOwn);
    expect(await without('', () => guardChannel(child, () => {}))).toBe(true);
    expect(channel.onread).not.toBe(nodeOwn);
  });

  it('P14 _createServerHandle: used, the master binds a socket for its workers; switched off, a one-line error naming the way out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-bind-'));
    const bound = await without('', () => bindSocket({ socket: join(dir, 'a.sock') }));
    cleanups.push(() => bound.close());
    expect(bound.fd).toBeGreaterThan(2);
    expect(bound.address.text).toBe(`unix:${join(dir, 'a.sock')}`);
    const refused = await without('_createServerHandle', () => bindSocket({ socket: join(dir, 'b.sock') }).then(() => null, (e: unknown) => e as Error & { code: string }));
    expect(refused?.code).toBe('ERR_LISTEN');
    expect(refused?.message).toMatch(/^this Node \(v[\d.]+\) cannot bind a socket for --workers to share: start without --workers, or pass a bound socket \(--fd, systemd socket activation\)$/);
  });

  // B2: `_header` is read once, when the bridge loads: each way gets fresh modules.
  for (const names of ['', '_header']) {
    it(`B2 _header ${names === '' ? 'used' : 'switched off'}: headersSent, and setHeader refused after the head, as node:http's (Express's prototype too)`, async () => {
      const seen = await without(names, async () => {
        vi.resetModules();
        const { fromNodeListener } = await import('../../src/bridges/from-node-listener.js');
        const { HEADER_FIELD } = await import('../../src/bridges/header-field.js');
        const seen: unknown[] = [HEADER_FIELD];
        const e = express();
        e.get('/', (_req, res) => {
          seen.push(res.headersSent);
          // Switched off, the answers below come from the response's own members (they shadow node:http's).
          seen.push(Object.getOwnPropertyDescriptor(res, 'headersSent') !== undefined && Object.hasOwn(res, 'setHeader'));
          res.setHeader('X-One', '1');
          res.writeHead(201, { 'Content-Type': 'text/plain' });
          seen.push(res.headersSent);
          try { res.setHeader('X-Two', '2'); } catch (err) { seen.push((err as { code?: string }).code); }
          try { res.removeHeader('X-One'); } catch (err) { seen.push((err as { code?: string }).code); }
          res.end('made');
        });
        const r = await run(fromNodeListener(e), { REQUEST_METHOD: 'GET', PATH_INFO: '/' });
        seen.push(r.sink.text.replace(/Date: [^\r]*\r\n/, ''));
        return seen;
      });
      vi.resetModules();
      expect(seen[0]).toBe(names === '');
      expect(seen.slice(1, 6)).toEqual([false, names !== '', true, 'ERR_HTTP_HEADERS_SENT', 'ERR_HTTP_HEADERS_SENT']);
      expect(seen[6]).toMatch(/^Status: 201 Created\r\n/);
      expect(seen[6]).toContain('X-One: 1\r\n');
      expect(seen[6]).not.toContain('X-Two');
      expect(seen[6]).toMatch(/\r\n\r\nmade$/);
    });
  }

  // C4: Buffer's latin1Slice, chosen when protocol/text.ts loads: each way gets fresh modules.
  for (const names of ['', 'latin1Slice']) {
    it(`C4 latin1Slice ${names === '' ? 'used' : 'switched off'}: every byte is one character, short (remembered) and long texts alike`, async () => {
      const texts = await without(names, async () => {
        vi.resetModules();
        const { latin1Text } = await import('../../src/protocol/text.js');
        const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
        const out: string[] = [];
        for (let i = 0; i < 256; i += 8) out.push(latin1Text(all, i, i + 8), latin1Text(all, i, i + 8)); // each twice: the second from its slot
        out.push(latin1Text(all, 0, 256), latin1Text(Buffer.from('HTTP_X\xe9', 'latin1'), 0, 7));
        return out;
      });
      vi.resetModules();
      const expected: string[] = [];
      for (let i = 0; i < 256; i += 8) {
        const t = String.fromCharCode(...Array.from({ length: 8 }, (_, k) => i + k));
        expected.push(t, t);
      }
      expected.push(String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i)), 'HTTP_X\xe9');
      expect(texts).toEqual(expected);
    });
  }

  // B4: the kOutHeaders store, found when the bridge loads: each way gets fresh modules.
  for (const names of ['', 'kOutHeaders']) {
    it(`B4 kOutHeaders ${names === '' ? 'used' : 'switched off'}: the head a listener sets is sent whole, in order, several Set-Cookie included`, async () => {
      const text = await without(names, async () => {
        vi.resetModules();
        const { fromNodeListener } = await import('../../src/bridges/from-node-listener.js');
        const r = await run(fromNodeListener((_req, res) => {
          res.setHeader('X-One', '1');
          res.setHeader('Set-Cookie', ['a=1', 'b=2']);
          res.appendHeader('X-Two', 'x');
          res.removeHeader('X-One');
          res.setHeader('Content-Type', 'text/plain');
          res.end('ok');
        }), { REQUEST_METHOD: 'GET', PATH_INFO: '/' });
        return r.sink.text.replace(/Date: [^\r]*\r\n/, '');
      });
      vi.resetModules();
      expect(text).toBe('Status: 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Two: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok');
    });
  }
});
