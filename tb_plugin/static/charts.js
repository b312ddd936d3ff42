// keras-relevance dashboard: SVG charts (deletion curves at one step, AOPC over steps). No
// third-party libraries; method names are untrusted and only reach the page as text.

export const PALETTE = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2',
  '#17becf', '#bcbd22'];

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text != null) node.textContent = text;
  return node;
}

/** Axes, grid, ticks and labels; returns {chart, px, py}. */
function frame({cls, title, xs, lo, hi, xLabel, yLabel, W = 400, H = 240, attrs = {}}) {
  const m = {l: 44, r: 96, t: 26, b: 38};
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const px = (v) => m.l + ((v - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const py = (v) => H - m.b - ((v - lo) / (hi - lo || 1)) * (H - m.t - m.b);
  const chart = svg('svg', {class: cls, width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img',
    ...attrs});
  chart.append(svg('text', {x: m.l, y: 14, class: 'kr-chart-title'}, title));
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    chart.append(svg('line', {x1: m.l, x2: W - m.r, y1: py(v), y2: py(v), class: 'kr-grid'}));
    chart.append(svg('text', {x: m.l - 6, y: py(v) + 4, class: 'kr-tick', 'text-anchor': 'end'},
      v.toFixed(2)));
  }
  const every = Math.max(1, Math.ceil(xs.length / 10));
  xs.forEach((v, i) => {
    if (i % every && i !== xs.length - 1) return;
    chart.append(svg('text', {x: px(v), y: H - m.b + 16, class: 'kr-tick', 'text-anchor': 'middle'},
      String(v)));
  });
  chart.append(svg('text', {x: (m.l + W - m.r) / 2, y: H - 6, class: 'kr-axis',
    'text-anchor': 'middle'}, xLabel));
  chart.append(svg('text', {x: 12, y: (m.t + H - m.b) / 2, class: 'kr-axis', 'text-anchor': 'middle',
    transform: `rotate(-90 12 ${(m.t + H - m.b) / 2})`}, yLabel));
  const legend = (items) => {
    const lx = W - m.r + 10;
    items.forEach(([name, colour, dashed], i) => {
      const y = m.t + 8 + i * 16;
      chart.append(svg('line', {x1: lx, x2: lx + 16, y1: y, y2: y, stroke: colour,
        class: dashed ? 'kr-legend kr-random' : 'kr-legend'}));
      chart.append(svg('text', {x: lx + 21, y: y + 4, class: 'kr-tick'}, name.slice(0, 12)));
    });
  };
  return {chart, px, py, legend};
}

function pathOf(points) {
  return points.filter(Boolean).map(([x, y], i) => `${i ? 'L' : 'M'}${x},${y}`).join(' ');
}

/** Deletion curves of one step: accuracy after k deleted words, random mean ± std as a band. */
export function deletionChart(item) {
  const x = item.x;
  const methods = Object.keys(item.curves).sort(); // the same colour per method as the AOPC chart
  const values = [];
  for (const k of methods) values.push(...item.curves[k].filter((v) => v != null));
  const rnd = item.random;
  if (rnd) {
    rnd.mean.forEach((v, i) => {
      if (v == null) return;
      const s = (rnd.std && rnd.std[i]) || 0;
      values.push(v - s, v + s);
    });
  }
  const title = item.kind === 'misclassified' ?
    'Misclassified — least relevant words deleted first' :
    'Correctly classified — most relevant words deleted first';
  const {chart, px, py, legend} = frame({cls: 'kr-deletion-chart', title,
    xs: x.filter((v) => v != null), lo: Math.min(0, ...values), hi: Math.max(1, ...values),
    xLabel: 'words deleted', yLabel: 'accuracy', attrs: {'data-tag': item.tag}});
  const line = (ys) => pathOf(ys.map((v, i) => (v == null ? null : [px(x[i]), py(v)])));
  const items = [];
  if (rnd) {
    if (rnd.std) {
      const edge = (s) => rnd.mean.map((v, i) => (v == null ? null :
        [px(x[i]), py(v + s * (rnd.std[i] || 0))])).filter(Boolean);
      const pts = [...edge(1), ...edge(-1).reverse()];
      chart.append(svg('polygon', {class: 'kr-band', points: pts.map((p) => p.join(',')).join(' ')}));
    }
    chart.append(svg('path', {class: 'kr-line kr-random', d: line(rnd.mean), 'data-method': 'random'}));
    items.push(['random', '#888', true]);
  }
  methods.forEach((name, i) => {
    const colour = PALETTE[i % PALETTE.length];
    chart.append(svg('path', {class: 'kr-line', d: line(item.curves[name]), stroke: colour,
      'data-method': name}));
    item.curves[name].forEach((v, j) => {
      if (v == null) return;
      const dot = svg('circle', {cx: px(x[j]), cy: py(v), r: 2.5, fill: colour});
      dot.append(svg('title', {}, `${name}: ${x[j]} deleted → ${v.toFixed(3)}`));
      chart.append(dot);
    });
    items.push([name, colour, false]);
  });
  legend(items);
  return chart;
}

/**
 * AOPC of each method over training steps (GET /aopc), one line per method, the random
 * baseline's AOPC dashed. `data` is {method: [{step, aopc, n, area, random_aopc}]}.
 */
export function aopcChart(data, kind = 'correct') {
  const methods = Object.keys(data).sort();
  const steps = [...new Set(methods.flatMap((m) => data[m].map((p) => p.step)))].sort((a, b) => a - b);
  const values = methods.flatMap((m) => data[m].map((p) => p.aopc)).filter((v) => v != null);
  const randomBy = new Map();
  for (const m of methods) {
    for (const p of data[m]) if (p.random_aopc != null) randomBy.set(p.step, p.random_aopc);
  }
  values.push(...randomBy.values());
  const {chart, px, py, legend} = frame({cls: 'kr-aopc-chart', xs: steps.length ? steps : [0],
    title: `AOPC over steps (${kind}; higher = more faithful)`,
    lo: Math.min(0, ...values), hi: Math.max(0.05, ...values), xLabel: 'step', yLabel: 'AOPC',
    attrs: {'data-kind': kind}});
  const items = [];
  if (randomBy.size) {
    const pts = [...randomBy.entries()].sort((a, b) => a[0] - b[0]).map(([s, v]) => [px(s), py(v)]);
    chart.append(svg('path', {class: 'kr-line kr-random', d: pathOf(pts), 'data-method': 'random'}));
    items.push(['random', '#888', true]);
  }
  methods.forEach((name, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const points = data[name].filter((p) => p.aopc != null);
    chart.append(svg('path', {class: 'kr-line kr-aopc-line', d: pathOf(points.map((p) =>
      [px(p.step), py(p.aopc)])), stroke: colour, 'data-method': name,
      'data-values': points.map((p) => `${p.step}:${p.aopc}`).join(' ')}));
    for (const p of points) {
      const dot = svg('circle', {cx: px(p.step), cy: py(p.aopc), r: 2.5, fill: colour});
      const area = p.area == null ? '' : `, area to random ${p.area.toFixed(3)}`;
      dot.append(svg('title', {}, `${name} step ${p.step}: AOPC ${p.aopc.toFixed(3)}${area} ` +
        `(n = ${p.n == null ? '?' : p.n} sentences)`));
      chart.append(dot);
    }
    items.push([name, colour, false]);
  });
  legend(items);
  return chart;
}
