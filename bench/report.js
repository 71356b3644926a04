// Markdown tables from the JSON `npm run bench` writes (bench/matrix.js):
// printed after a run, and put into docs/performance.md by `npm run bench:readme`.

const groups = {
  fastcgi: 'FastCGI: nginx `fastcgi_pass`, keepalive upstream (`fastcgi_keep_conn on`); ratios to nginx `proxy_pass` → node:http with a keepalive upstream',
  uwsgi: 'uwsgi and SCGI: nginx `uwsgi_pass` and `scgi_pass`, a new connection per request; ratios to nginx `proxy_pass` → node:http without upstream keepalive (the same regime)',
  http: 'dev HTTP server: wrk straight at the server on TCP; ratios to node:http',
};
const via = {
  fastcgi: 'fastcgi_pass', 'fastcgi-close': 'fastcgi_pass, no keepalive', uwsgi: 'uwsgi_pass', scgi: 'scgi_pass', proxy: 'proxy_pass', 'proxy-ka': 'proxy_pass, keepalive', direct: 'direct',
};
const x = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '–');
const n0 = (v) => (Number.isFinite(v) ? v.toFixed(0) : '–');

/** The row of `id` under Node `node`, or the row of a server that is not Node. */
export function find(result, id, node) {
  return result.web.find((r) => r.id === id && (r.node === node || r.node === null));
}

/** req/s and CPU-per-request ratios of row `a` to row `b` (each may be missing). */
export function ratio(a, b) {
  return a && b ? { rps: a.rps / b.rps, cpu: a.cpu / b.cpu } : { rps: NaN, cpu: NaN };
}

function webTables(result) {
  const nodes = result.nodes.map((n) => n.label);
  const out = [];
  for (const [group, title] of Object.entries(groups)) {
    const ids = [...new Set(result.web.filter((r) => r.group === group).map((r) => r.id))];
    if (!ids.length) continue;
    out.push(`**${title}**`, '');
    out.push(`| backend | via nginx | ${nodes.map((n) => `Node ${n}: req/s | p99 ms | CPU µs/req | vs baseline (req/s, CPU)`).join(' | ')} |`);
    out.push(`|---|---|${nodes.map(() => '---:|---:|---:|---:|').join('')}`);
    for (const id of ids) {
      const any = result.web.find((r) => r.id === id);
      const cells = nodes.map((n) => {
        const row = find(result, id, n);
        if (!row) return '– | – | – | –';
        const base = row.baseline ? find(result, row.baseline, n) : null;
        const r = ratio(row, base);
        return `${n0(row.rps)} | ${row.p99.toFixed(2)} | ${row.cpu.toFixed(1)} | ${base ? `${x(r.rps)}, ${x(r.cpu)}` : 'baseline'}`;
      });
      const name = any.node === null ? `${any.name} ¹` : any.name;
      out.push(`| ${name} | ${via[any.via]} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  if (result.web.some((r) => r.node === null)) {
    out.push('¹ not a Node server: one measurement, shown under each Node column with the ratios to that Node\'s baseline.', '');
  }
  return out;
}

/**
 * The guard a change must keep (measured before and after in the same run), each checked on every
 * Node binary measured; rows without a bound are the distance to the physical limit, for reference.
 */
const checks = [
  { what: 'tsgi fastcgi vs node:http keepalive, req/s', a: 'tsgi-fastcgi', b: 'node-http-ka', key: 'rps', min: { default: 1.25 } },
  { what: 'tsgi fastcgi vs node:http keepalive, CPU/req', a: 'tsgi-fastcgi', b: 'node-http-ka', key: 'cpu', max: { default: 0.75 } },
  { what: 'tsgi uwsgi vs node:http no keepalive, req/s', a: 'tsgi-uwsgi', b: 'node-http', key: 'rps', min: { default: 1.0 } },
  { what: 'tsgi scgi vs tsgi uwsgi, req/s', a: 'tsgi-scgi', b: 'tsgi-uwsgi', key: 'rps' },
  { what: 'tsgi fastcgi vs minimal FastCGI responder, req/s', a: 'tsgi-fastcgi', b: 'minimal-fastcgi', key: 'rps' },
  { what: 'tsgi fastcgi vs minimal FastCGI responder, CPU/req', a: 'tsgi-fastcgi', b: 'minimal-fastcgi', key: 'cpu' },
  { what: 'tsgi uwsgi vs minimal uwsgi responder, req/s', a: 'tsgi-uwsgi', b: 'minimal-uwsgi', key: 'rps' },
  { what: 'tsgi uwsgi vs minimal uwsgi responder, CPU/req', a: 'tsgi-uwsgi', b: 'minimal-uwsgi', key: 'cpu' },
];

function targetTable(result) {
  const nodes = result.nodes.map((n) => n.label);
  const out = ['**Guard** (the bounds a change must keep, measured before and after in one run; the minimal responder of the same protocol is the physical limit, shown for reference)', ''];
  out.push(`| ratio | bound | ${nodes.map((n) => `Node ${n}`).join(' | ')} |`, `|---|---|${nodes.map(() => '---|').join('')}`);
  for (const c of checks) {
    if (!nodes.some((n) => find(result, c.a, n) && find(result, c.b, n))) continue;
    const bound = c.min ?? c.max;
    const limitOf = (n) => bound[n] ?? bound.default;
    const target = !bound ? 'reference'
      : [...new Set(nodes.map(limitOf))].length > 1
        ? nodes.map((n) => `${c.min ? '≥' : '≤'} ${limitOf(n).toFixed(2)}x (${n})`).join(', ')
        : `${c.min ? '≥' : '≤'} ${limitOf(nodes[0]).toFixed(2)}x`;
    const cells = nodes.map((n) => {
      const v = ratio(find(result, c.a, n), find(result, c.b, n))[c.key];
      if (!Number.isFinite(v)) return '–';
      if (!bound) return x(v);
      const met = c.min ? v >= limitOf(n) : v <= limitOf(n);
      return `${x(v)} ${met ? 'kept' : '**broken**'}`;
    });
    out.push(`| ${c.what} | ${target} | ${cells.join(' | ')} |`);
  }
  out.push('');
  return out;
}

function cgiTable(result) {
  if (!result.cgi) return [];
  const nodes = result.nodes.map((n) => n.label);
  const ids = [...new Set(result.cgi.rows.map((r) => r.id))];
  const out = [`**CGI cold start** (${result.cgi.rounds} interleaved rounds; ratios to \`node -e 0\` of the same Node)`, ''];
  out.push(`| case | ${nodes.map((n) => `Node ${n}: median ms | p10 ms | vs node -e 0`).join(' | ')} |`);
  out.push(`|---|${nodes.map(() => '---:|---:|---:|').join('')}`);
  for (const id of ids) {
    const cells = nodes.map((n) => {
      const r = result.cgi.rows.find((c) => c.id === id && c.node === n);
      return r ? `${r.median.toFixed(1)} | ${r.p10.toFixed(1)} | ${x(r.ratio)}` : '– | – | –';
    });
    out.push(`| ${result.cgi.rows.find((c) => c.id === id).name} | ${cells.join(' | ')} |`);
  }
  out.push('');
  return out;
}

/** All tables, with a line saying how and where they were measured. */
export function markdown(result) {
  const s = result.settings;
  const head = [
    `Measured ${result.generated.slice(0, 16).replace('T', ' ')} UTC by \`${result.command}\`: ` +
      `${s.rounds} rounds × ${s.seconds} s, \`wrk -t1 -c${s.connections}\`, hello world, ${s.statistic}; ${s.nginx}; ` +
      `${result.nodes.map((n) => `Node ${n.version}`).join(' and ')}. Backend CPU is the utime+stime of the backend's ` +
      `process(es) over each run, divided by its requests. ${result.machine.note}`,
    '',
  ];
  const notes = result.notes.length ? [...result.notes.map((n) => `- ${n}`), ''] : [];
  return [...head, ...(result.web.length ? [...webTables(result), ...targetTable(result)] : []), ...cgiTable(result), ...notes].join('\n');
}
