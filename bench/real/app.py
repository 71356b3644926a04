# The workloads of bench/real/app.js for the uWSGI (python3 plugin) rows of
# `npm run bench:real` (no /await: a blocking worker would only sleep).
import json

HELLO = b'Hello, world!\n'
ITEMS = [{'id': i, 'name': 'item %d' % i, 'price': i * 3.5, 'tags': ['a', 'b']} for i in range(12)]
BIG = b'x' * (64 * 1024 * 1024)


def application(environ, start_response):
    path = environ.get('PATH_INFO', '/')
    if path == '/json':
        body = json.dumps({'ok': True, 'items': ITEMS}).encode()
        start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
        return [body]
    if path.startswith('/bytes/'):
        n = min(int(path[7:] or 0), len(BIG))
        start_response('200 OK', [('Content-Type', 'application/octet-stream'), ('Content-Length', str(n))])
        return [BIG[i:min(n, i + (1 << 20))] for i in range(0, n, 1 << 20)]
    if path == '/post':
        length = int(environ.get('CONTENT_LENGTH') or 0)
        out = ('%d\n' % len(environ['wsgi.input'].read(length) if length else b'')).encode()
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(out)))])
        return [out]
    start_response('200 OK', [('Content-Type', 'text/plain; charset=utf-8'), ('Content-Length', str(len(HELLO)))])
    return [HELLO]
