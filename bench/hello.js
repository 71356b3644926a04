// The hello app in plain JavaScript, for the CGI cold-start benchmark.
export default function app(_environ, startResponse) {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [Buffer.from('Hello, world!\n')];
}
