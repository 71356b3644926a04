// `node bench/real/slow-readers.cjs PORT N PATH`: opens N connections to
// 127.0.0.1:PORT, sends one GET PATH on each and then reads nothing (a slow
// reader: the response waits in the kernel's and nginx's buffers). Prints
// "ready N" once every request is sent, and holds them until killed.
'use strict';
const net = require('node:net');

const [port, n, path] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const sockets = [];
let sent = 0;
for (let i = 0; i < n; i++) {
  const s = net.connect({ port, host: '127.0.0.1' }, () => {
    s.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\n\r\n`);
    s.pause(); // never read: the whole point
    if (++sent === n) process.stdout.write(`ready ${n}\n`);
  });
  s.on('error', () => {});
  sockets.push(s);
}
process.on('SIGTERM', () => process.exit(0));
