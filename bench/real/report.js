// Markdown and SVG of `npm run bench:real`'s JSON (bench/real.js): printed
// after a run and put into docs/performance.md and docs/bench-real.svg.

const x = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '–');
const f = (v, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '–');
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The node:http row (plain or Express) a row is compared to: same workload, same Node (any Node for non-Node servers). */
function baseOf(result, row, node) {
  return result.rows.find((r) => r.baseline && r.workload === row.workload && r.node === (row.node ?? node));
}

/** The tables: one per Node binary, a line per workload and backend. */
export function realMarkdown(result) {
  const s = result.settings;
  const out = [
    `Measured ${result.generated.slice(0, 16).replace('T', ' ')} UTC by \`${result.command}\`: ${s.rounds} rounds × ${s.seconds} s of wrk per ` +
      `workload and backend, ${s.statistic}; ${s.nginx}; ${result.nodes.map((n) => `Node ${n.version}`).join(' and ')}. ` +
      'CPU is the backend\'s utime+stime over the run per request; peak RSS its VmHWM over the run (reset before each). ' +
      `Slow readers each send one GET ${s.slowPath} and read nothing. ${result.machine.note}`,
    '',
  ];
  for (const { label } of result.nodes) {
    out.push(`**Node ${label}** (ratios to node:http behind nginx \`proxy_pass\` with a keepalive upstream, same workload, same run)`, '');
    out.push('| workload | backend | req/s | p99 ms | CPU µs/req | peak RSS MiB | req/s vs node:http | p99 vs node:http |', '|---|---|---:|---:|---:|---:|---:|---:|');
    for (const w of result.workloads) {
      for (const row of result.rows.filter((r) => r.workload === w.id && (r.node === label || r.node === null))) {
        const b = baseOf(result, row, label);
        const vs = row.baseline ? ['baseline', 'baseline'] : [x(row.rps / b?.rps), x(row.p99 / b?.p99)];
        const name = row.node === null ? `${row.name} ¹` : row.name;
        out.push(`| ${w.name} | ${name} | ${f(row.rps)} | ${f(row.p99, 2)} | ${f(row.cpu, 1)} | ${f(row.rss)} | ${vs.join(' | ')} |`);
      }
    }
    out.push('');
    const bounds = result.workloads.filter((w) => w.bound);
    for (const w of bounds) {
      const cells = result.rows.filter((r) => r.workload === w.id && r.node === label).map((r) => `${r.name} ${Math.round((100 * r.rps) / w.bound)}%`);
      out.push(`- ${w.name}: the connections/latency bound is ${f(w.bound)} req/s; reached: ${cells.join(', ')}.`);
    }
    for (const w of result.workloads.filter((v) => v.same)) {
      const cells = result.rows.filter((r) => r.workload === w.id && r.node === label).map((r) => {
        const without = result.rows.find((o) => o.workload === w.same && o.backend === r.backend && o.node === r.node);
        return `${r.name} ${x(r.p99 / without?.p99)}`;
      });
      out.push(`- ${w.name}: p99 with the slow readers / p99 without (same run): ${cells.join(', ')}.`);
    }
    out.push('');
  }
  const failed = result.rows.filter((r) => r.errors);
  if (failed.length) {
    out.push('Rows whose runs had errors or non-2xx answers (wrk\'s count per round; nginx answers 502 when it cannot connect to the backend):', '');
    for (const r of failed) out.push(`- ${result.workloads.find((w) => w.id === r.workload)?.name}, ${r.name}${r.node ? ` (Node ${r.node})` : ''}: ${r.errors}`);
    out.push('');
  }
  if (result.rows.some((r) => r.node === null)) out.push('¹ not a Node server (blocking workers: no await rows): one measurement, shown under each Node.', '');
  for (const n of result.notes) out.push(`- ${n}`);
  return `${out.join('\n')}\n`;
}

const colors = { 'proxy-ka': '#718096', fastcgi: '#2b6cb0', uwsgi: '#dd6b20', scgi: '#38a169', 'fastcgi-close': '#805ad5' };

/** A bar chart: per workload, every backend's req/s as a ratio to node:http (1.0 marked), for the first Node binary. */
export function realSvg(result) {
  const label = result.nodes[0]?.label;
  const lines = [];
  for (const w of result.workloads) {
    lines.push({ title: w.name });
    for (const row of result.rows.filter((r) => r.workload === w.id && (r.node === label || r.node === null))) {
      const b = baseOf(result, row, label);
      lines.push({ name: row.name, via: row.via, ratio: row.rps / b?.rps });
    }
  }
  const bar = 12, gap = 6, name = 260, width = 360, pad = 16, max = 2;
  const out = [];
  let y = 44;
  const ox = pad + name;
  for (const l of lines) {
    if (l.title) { y += 10; out.push(`<text x="${pad}" y="${y + 10}" font-weight="bold">${esc(l.title)}</text>`); y += 18; continue; }
    const v = Number.isFinite(l.ratio) ? l.ratio : 0;
    out.push(`<text x="${ox - 6}" y="${y + bar - 2}" text-anchor="end">${esc(l.name)}</text>`,
      `<rect x="${ox}" y="${y}" width="${((Math.min(v, max) / max) * width).toFixed(1)}" height="${bar}" fill="${colors[l.via] ?? '#4a5568'}"/>`,
      `<text x="${(ox + (Math.min(v, max) / max) * width + 4).toFixed(1)}" y="${y + bar - 2}">${Number.isFinite(l.ratio) ? l.ratio.toFixed(2) + 'x' : '–'}</text>`);
    y += bar + gap;
  }
  const one = ox + width / max;
  const h = y + pad;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${ox + width + 80}" height="${h}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${pad}" y="20" font-size="14" font-weight="bold">npm run bench:real — req/s as a ratio to node:http (proxy_pass keepalive), Node ${esc(label)}</text>
<line x1="${one}" y1="30" x2="${one}" y2="${h - pad}" stroke="#000" stroke-dasharray="3,3"/>
<text x="${one + 3}" y="38">1.0x</text>
${out.join('\n')}
</svg>
`;
}
