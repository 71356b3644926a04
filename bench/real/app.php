<?php
// The workloads of bench/real/app.js for the PHP-FPM rows of `npm run bench:real`
// (no /await: a PHP-FPM worker would only sleep).
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($path === '/json') {
  $items = [];
  for ($i = 0; $i < 12; $i++) $items[] = ['id' => $i, 'name' => "item $i", 'price' => $i * 3.5, 'tags' => ['a', 'b']];
  header('Content-Type: application/json');
  echo json_encode(['ok' => true, 'items' => $items]);
} elseif (strncmp($path, '/bytes/', 7) === 0) {
  $n = min((int) substr($path, 7), 64 * 1024 * 1024);
  header('Content-Type: application/octet-stream');
  header("Content-Length: $n");
  $chunk = str_repeat('x', 1 << 20);
  for ($i = 0; $i < $n; $i += 1 << 20) echo $i + (1 << 20) <= $n ? $chunk : substr($chunk, 0, $n - $i);
} elseif ($path === '/post') {
  echo strlen(file_get_contents('php://input')), "\n";
} else {
  header('Content-Type: text/plain; charset=utf-8');
  echo "Hello, world!\n";
}
