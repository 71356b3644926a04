// P13: the master never trusts a worker. A worker app that writes garbage to
// the in-flight board's pipe or to the IPC channel's descriptor, or sends
// malformed messages, handles with the wrong message, a connection it was not
// asked to hand back, or a forged Node-internal message, is logged and
// replaced; the master never crashes, and the service keeps answering.
// Also --max-workers, the pool's ceiling under SIGTTIN.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { slow } from '../timing.js';
import { ROOT, freePort } from './servers.js';
import { httpGet, startTsgi, stopAll, type TsgiProcess } from './tsgi-process.js';

afterEach(stopAll);

const APP = join(ROOT, 'test/fixtures/hostile-worker-app.js');

async function master(extra: string[] = []): Promise<{ t: TsgiProcess; port: number; pid: string }> {
  const port = await freePort();
  // --timeout gives the workers the in-flight board's pipe.
  const t = startTsgi(['http', APP, '--port', String(port), '--workers', '1', '--timeout', '30', ...extra]);
  await t.waitLog(/\) ready/, 'the worker');
  const r = await httpGet(port, '/');
  expect(r.status).toBe(200);
  return { t, port, pid: r.text };
}

/** The service answers from a worker other than `pid` (the replacement), with 200. */
async function servedByAnother(port: number, pid: string): Promise<string> {
  const deadline = Date.now() + slow(10_000);
  for (;;) {
    const r = await httpGet(port, '/');
    if (r.status === 200 && r.text !== pid) return r.text;
    if (Date.now() > deadline) throw new Error(`still ${r.status} ${r.text}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

const attacks: [string, RegExp][] = [
  ['/board-garbage', /sent a board line that is not JSON: "this is not json"; replacing it/],
  ['/board-not-list', /sent a board line that is not a list of requests/],
  ['/board-long', /sent a board line longer than 262144 bytes; replacing it/],
  ['/ipc-garbage', /sent bytes on the IPC channel that are not a message \(.*JSON.*\); replacing it/],
  ['/ipc-endless', /sent an IPC message longer than 4194304 bytes; replacing it/],
  ['/ipc-not-object', /sent a message that is not one of tsgi's: 42; replacing it/],
  ['/ipc-unknown', /sent an unknown message type "own-the-master"; replacing it/],
  ['/ipc-bad-pong', /sent a malformed pong/],
  ['/ipc-bad-fatal', /sent a malformed fatal/],
  ['/ipc-handoff-unasked', /sent a connection it was not asked to hand back; replacing it/],
  ['/ipc-handoff-bad', /sent a handoff for listener 99; replacing it/],
  ['/ipc-handle-on-ready', /sent a handle with a "ready" message; replacing it/],
  // O1: counts from a worker the master did not ask to count (no --metrics, no control socket).
  ['/ipc-stats-back', /sent a stats report it was not asked for; replacing it/],
];

describe('P13 the master never trusts a worker', () => {
  for (const [path, said] of attacks) {
    it(`P13 ${path}: the worker is logged and replaced, the master lives on and the service answers`, async () => {
      const { t, port, pid } = await master();
      await httpGet(port, path);
      await t.waitLog(said, `the master to refuse ${path}`);
      await t.waitLog(/\) ready/, 'the replacement', 2);
      expect(await servedByAnother(port, pid)).toMatch(/^pid \d+\n$/);
      expect(t.child.exitCode).toBe(null);
      expect(t.log()).not.toMatch(/uncaught exception/);
      expect(await t.stop()).toBe(0);
    });
  }

  it('P13 a forged Node-internal message (a handle acknowledgement never asked for) does not bring the master down', async () => {
    const { t, port, pid } = await master();
    await httpGet(port, '/ipc-internal');
    // Node's own IPC code in the master throws on it: the master logs it and carries on.
    await t.waitLog(/master: uncaught exception \(it keeps running\)/, 'the master to survive the forged message');
    const again = await httpGet(port, '/');
    expect(again).toEqual({ status: 200, text: pid });
    expect(t.child.exitCode).toBe(null);
    expect(await t.stop()).toBe(0);
  });

  it('P13 SIGTTIN stops at --max-workers; --workers above it is a configuration error (exit 2)', async () => {
    const { t } = await master(['--max-workers', '2']);
    t.child.kill('SIGTTIN');
    await t.waitLog(/SIGTTIN: 2 workers/, 'the second worker');
    await t.waitLog(/\) ready/, 'the second worker ready', 2);
    t.child.kill('SIGTTIN');
    await t.waitLog(/SIGTTIN: already at --max-workers 2/, 'the ceiling');
    expect(t.log().match(/\) ready/g)!.length).toBe(2);
    expect(await t.stop()).toBe(0);

    const bad = startTsgi(['http', APP, '--port', String(await freePort()), '--workers', '3', '--max-workers', '2']);
    expect(await bad.exited).toBe(2);
    expect(bad.log()).toMatch(/--workers 3 is more than --max-workers 2/);
  });
});
