// The hello app as a CommonJS module: with it, bench:cgi shows tsgi's own
// start-up cost without Node's ES module loader (which an ESM app pays).
module.exports = function app(_environ, startResponse) {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [Buffer.from('Hello, world!\n')];
};
