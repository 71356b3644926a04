// P11: a socket handed to another process carries the bytes Node had read
// ahead from it, and loses nothing the peer sends after reading stopped.
import { fork } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { canHandOff, detach } from '../../src/server/handoff.js';
import { ROOT, waitFor } from '../integration/servers.js';

const cleanups: (() => void)[] = [];
afterEach(() => { for (const c of cleanups.splice(0)) c(); });

describe('P11 handing a connection to another process', () => {
  it('P11 the read-ahead travels with the socket, and what the peer sends after the stop reaches the new process', async () => {
    const server = createServer({ pauseOnConnect: false });
    cleanups.push(() => server.close());
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = connect((server.address() as { port: number }).port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    let answer = '';
    client.on('data', (d) => { answer += d.toString('latin1'); });
    const closed = new Promise<void>((r) => client.on('close', () => r()));
    const socket = await accepted;
    // Paused, with no listener: Node still reads what arrives into the socket's buffer.
    socket.pause();
    client.write('hello ');
    await waitFor(() => socket.readableLength === 6, 'Node to read ahead');
    expect(canHandOff(socket)).toBe(true);
    const rest = detach(socket)!;
    expect(rest.toString()).toBe('hello ');
    // Sent after reading stopped: it waits in the kernel for whoever reads the connection next.
    client.write('world');
    const child = fork(join(ROOT, 'test/fixtures/adopt-child.cjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    cleanups.push(() => child.kill());
    const adopted = new Promise<void>((r) => child.once('message', () => r()));
    child.send({ rest: rest.toString('base64') }, socket);
    await adopted;
    client.write('.');
    await closed;
    expect(answer).toBe('got: hello world.');
  });

  it('P11 a socket whose reading cannot be stopped is not handed off (detach says so)', () => {
    const fake = { destroyed: false, _handle: {} } as unknown as Socket;
    expect(canHandOff(fake)).toBe(false);
    expect(detach(fake)).toBe(null);
  });
});
