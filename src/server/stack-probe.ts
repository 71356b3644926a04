/**
 * O4: the JavaScript stack of a worker, on the master's demand, also while
 * its event loop is stuck in a synchronous loop. A small thread, started
 * with the worker, waits on a pipe from the master; asked, it opens an
 * inspector session to the main thread (node:inspector's
 * connectToMainThread), which V8 serves through an interrupt even in the
 * middle of running JavaScript, pauses it for as long as it takes to copy
 * the call frames, resumes it and closes the session. While nobody asks,
 * the thread sleeps in a read and the inspector is not enabled: no
 * debugger, no port, nothing for the main thread to do.
 */
import { Worker } from 'node:worker_threads';

/** Most frames one answer carries; the master cuts the text again (P13). */
export const STACK_FRAMES = 40;

const THREAD = `
const { workerData } = require('node:worker_threads');
const { Socket } = require('node:net');
const { fd, frames: most } = workerData;
const pipe = new Socket({ fd, readable: true, writable: true });
const answer = (o) => { pipe.write(JSON.stringify(o) + '\\n'); };
let inspector = null;
try { inspector = require('node:inspector'); } catch { /* a Node built without the inspector */ }
let busy = false;
const take = () => {
  if (inspector === null) { answer({ error: 'this Node has no inspector' }); return; }
  if (busy) return;
  busy = true;
  const s = new inspector.Session();
  const urls = new Map();
  let done = false;
  const end = (o) => {
    if (done) return;
    done = true;
    busy = false;
    clearTimeout(timer);
    try { s.post('Debugger.disable', () => { try { s.disconnect(); } catch {} }); } catch {}
    answer(o);
  };
  // The main thread pauses at its next JavaScript statement: at once in a loop, within a heartbeat (at most
  // 1 s) when idle, and only once it is back when it is stuck in native code (a synchronous read, Atomics.wait).
  const timer = setTimeout(() => end({ error: 'the main thread ran no JavaScript within 2 s (stuck in native code?)' }), 2000);
  try {
    s.connectToMainThread();
    s.on('Debugger.scriptParsed', (m) => { if (m.params.url) urls.set(m.params.scriptId, m.params.url); });
    s.on('Debugger.paused', (m) => {
      const list = m.params.callFrames.slice(0, most).map((f) => {
        const where = (urls.get(f.location.scriptId) || f.url || '<unknown>') + ':' + (f.location.lineNumber + 1) + ':' + ((f.location.columnNumber || 0) + 1);
        return '    at ' + (f.functionName || '<anonymous>') + ' (' + where + ')';
      });
      if (m.params.callFrames.length > most) list.push('    ... ' + (m.params.callFrames.length - most) + ' more frames');
      s.post('Debugger.resume', () => end({ stack: list.join('\\n') }));
    });
    s.post('Debugger.enable', (err) => {
      if (err) { end({ error: String(err.message || err) }); return; }
      s.post('Debugger.pause', (e) => { if (e) end({ error: String(e.message || e) }); });
    });
  } catch (err) {
    end({ error: String(err && err.message || err) });
  }
};
let rest = '';
pipe.on('data', (d) => {
  rest += d.toString('latin1');
  if (rest.length > 64) rest = rest.slice(-64);
  if (rest.includes('\\n')) { rest = ''; take(); }
});
pipe.on('error', () => {});
pipe.on('close', () => process.exit(0));
`;

/** Starts the stack thread of a worker on `fd` (a pipe to the master); it never holds the process open. */
export function startStackProbe(fd: number): void {
  new Worker(THREAD, { eval: true, workerData: { fd, frames: STACK_FRAMES } }).unref();
}
