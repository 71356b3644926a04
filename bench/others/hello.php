<?php
// The hello app for the PHP-FPM row of `npm run bench`.
header('Content-Type: text/plain; charset=utf-8');
header('Content-Length: 14');
echo "Hello, world!\n";
