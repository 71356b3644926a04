# The hello app for the uWSGI (python3 plugin) row of `npm run bench`.
BODY = b'Hello, world!\n'


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain; charset=utf-8'),
                              ('Content-Length', str(len(BODY)))])
    return [BODY]
