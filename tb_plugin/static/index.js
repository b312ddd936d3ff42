// keras-relevance dashboard: token heatmaps and deletion curves.
//
// Loaded by TensorBoard as an ES module (FrontendMetadata.es_module_path) inside its plugin iframe,
// whose base URL is /data/plugin/keras_relevance/, so routes are fetched by relative URL. No build
// step, no third-party scripts. Tokens and method names are untrusted: they only ever reach the page
// through textContent / createTextNode, never innerHTML.

const POS = [214, 39, 40]; // positive relevance: red
const NEG = [31, 119, 180]; // negative relevance: blue
const PALETTE = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2',
  '#17becf', '#bcbd22'];
const PAGE_SIZES = [10, 25, 50, 100];

/** Background colour of a token: white → red (positive) / blue (negative), |score| / maxAbs. */
export function tokenColor(score, maxAbs) {
  if (score == null || !Number.isFinite(score) || !(maxAbs > 0)) return 'rgb(255, 255, 255)';
  const a = Math.min(1, Math.abs(score) / maxAbs);
  const end = score >= 0 ? POS : NEG;
  const mix = (c) => Math.round(255 + (c - 255) * a);
  return `rgb(${mix(end[0])}, ${mix(end[1])}, ${mix(end[2])})`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c); // strings become text nodes
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text != null) node.textContent = text;
  return node;
}

async function api(route, params = {}) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') query.set(k, v);
  const response = await fetch(`${route}?${query}`);
  let body;
  try {
    body = await response.json();
  } catch (e) {
    throw new Error(`${route}: ${response.status} ${response.statusText}`);
  }
  if (!response.ok) throw new Error(body.error || `${route}: ${response.status}`);
  return body;
}

function fmt(x) {
  if (x == null) return 'n/a';
  const s = x.toPrecision(3);
  return x > 0 ? `+${s}` : s;
}

function className(classNames, c) {
  if (c == null) return '?';
  return classNames && classNames[c] != null ? classNames[c] : `class ${c}`;
}

/** Which class's scores to draw for a sample, given the target selector. */
function resolveClass(target, sample) {
  if (target === 'pred') return sample.prediction;
  if (target === 'true') return sample.label;
  return Number(target);
}

/** A sentence as coloured spans, normalised by its own largest |score|. */
function heatmap(tokens, scores) {
  const line = el('div', {class: 'kr-sentence'});
  if (!scores) {
    line.classList.add('kr-missing');
    line.append(el('span', {class: 'kr-note', text: 'class not explained for this sample'}), ' ');
  }
  const values = scores || [];
  let maxAbs = 0;
  for (const v of values) if (v != null && Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
  tokens.forEach((token, i) => {
    const score = values[i];
    const span = el('span', {class: 'kr-token'});
    span.textContent = token;
    span.style.backgroundColor = tokenColor(score, maxAbs);
    if (maxAbs > 0 && score != null && Math.abs(score) / maxAbs > 0.6) span.classList.add('kr-dark');
    span.dataset.score = score == null ? '' : String(score);
    span.title = `${token}: ${fmt(score)}`;
    line.append(span, ' ');
  });
  return line;
}

function badges(sample, classNames) {
  const box = el('span', {class: 'kr-badges'});
  if (sample.label != null) {
    box.append(el('span', {class: 'kr-badge', text: `true: ${className(classNames, sample.label)}`}));
  }
  if (sample.prediction != null) {
    const ok = sample.label == null || sample.label === sample.prediction;
    box.append(el('span', {
      class: `kr-badge ${ok ? 'kr-ok' : 'kr-wrong'}`,
      text: `pred: ${className(classNames, sample.prediction)}${ok ? '' : ' ✗'}`,
    }));
  }
  return box;
}

function lineChart(item) {
  const W = 400, H = 240, m = {l: 44, r: 96, t: 26, b: 38};
  const x = item.x;
  const methods = Object.keys(item.curves);
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
  let lo = Math.min(0, ...values), hi = Math.max(1, ...values);
  const xs = x.filter((v) => v != null);
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const px = (v) => m.l + ((v - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const py = (v) => H - m.b - ((v - lo) / (hi - lo || 1)) * (H - m.t - m.b);
  const chart = svg('svg', {class: 'kr-deletion-chart', width: W, height: H,
    viewBox: `0 0 ${W} ${H}`, 'data-tag': item.tag, role: 'img'});
  const title = item.kind === 'misclassified' ?
    'Misclassified — least relevant words deleted first' :
    'Correctly classified — most relevant words deleted first';
  chart.append(svg('text', {x: m.l, y: 14, class: 'kr-chart-title'}, title));
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    chart.append(svg('line', {x1: m.l, x2: W - m.r, y1: py(v), y2: py(v), class: 'kr-grid'}));
    chart.append(svg('text', {x: m.l - 6, y: py(v) + 4, class: 'kr-tick', 'text-anchor': 'end'},
      v.toFixed(2)));
  }
  for (const v of xs) {
    chart.append(svg('text', {x: px(v), y: H - m.b + 16, class: 'kr-tick', 'text-anchor': 'middle'},
      String(v)));
  }
  chart.append(svg('text', {x: (m.l + W - m.r) / 2, y: H - 6, class: 'kr-axis',
    'text-anchor': 'middle'}, 'words deleted'));
  chart.append(svg('text', {x: 12, y: (m.t + H - m.b) / 2, class: 'kr-axis', 'text-anchor': 'middle',
    transform: `rotate(-90 12 ${(m.t + H - m.b) / 2})`}, 'accuracy'));
  const path = (ys) => ys.map((v, i) => (v == null ? null : `${px(x[i])},${py(v)}`))
    .filter(Boolean).map((p, i) => `${i ? 'L' : 'M'}${p}`).join(' ');
  const legend = [];
  if (rnd) {
    if (rnd.std) {
      const upper = rnd.mean.map((v, i) => (v == null ? null : [px(x[i]), py(v + (rnd.std[i] || 0))]));
      const lower = rnd.mean.map((v, i) => (v == null ? null : [px(x[i]), py(v - (rnd.std[i] || 0))]));
      const pts = [...upper.filter(Boolean), ...lower.filter(Boolean).reverse()];
      chart.append(svg('polygon', {class: 'kr-band', points: pts.map((p) => p.join(',')).join(' ')}));
    }
    chart.append(svg('path', {class: 'kr-line kr-random', d: path(rnd.mean), 'data-method': 'random'}));
    legend.push(['random', '#888', true]);
  }
  methods.forEach((name, i) => {
    const colour = PALETTE[i % PALETTE.length];
    chart.append(svg('path', {class: 'kr-line', d: path(item.curves[name]), stroke: colour,
      'data-method': name}));
    item.curves[name].forEach((v, j) => {
      if (v == null) return;
      const dot = svg('circle', {cx: px(x[j]), cy: py(v), r: 2.5, fill: colour});
      dot.append(svg('title', {}, `${name}: ${x[j]} deleted → ${v.toFixed(3)}`));
      chart.append(dot);
    });
    legend.push([name, colour, false]);
  });
  const lx = W - m.r + 10;
  legend.forEach(([name, colour, dashed], i) => {
    const y = m.t + 8 + i * 16;
    chart.append(svg('line', {x1: lx, x2: lx + 16, y1: y, y2: y, stroke: colour,
      class: dashed ? 'kr-legend kr-random' : 'kr-legend'}));
    chart.append(svg('text', {x: lx + 21, y: y + 4, class: 'kr-tick'}, name.slice(0, 12)));
  });
  return chart;
}

class Dashboard {
  constructor(root) {
    this.root = root;
    this.state = {run: null, tag: null, target: 'pred', stepIndex: 0, offset: 0, limit: 25,
      filter: 'all', selected: null};
    this.listing = null;
    this.seq = 0; // drops answers to superseded requests
  }

  async start() {
    this.buildShell();
    try {
      this.listing = await api('runs');
    } catch (e) {
      return this.fail(this.status, e);
    }
    for (const note of this.listing.notes) this.notes.append(el('div', {class: 'kr-notice', text: note}));
    const runs = this.listing.runs.filter((r) => r.heatmaps.length || r.deletion_curves.length);
    runs.sort((a, b) => b.heatmaps.length - a.heatmaps.length); // richest run first
    if (!runs.length) {
      this.status.textContent = 'No keras-relevance data yet. Log some with ' +
        'keras_relevance.callbacks.ExplanationLogger or keras_relevance_tb.summary.';
      document.body.dataset.krReady = '1';
      return;
    }
    this.fillSelect(this.runSelect, [...runs].sort((a, b) => (a.run < b.run ? -1 : 1))
      .map((r) => [r.run, r.run]));
    await this.selectRun(runs[0].run);
  }

  buildShell() {
    const s = this.state;
    this.runSelect = el('select', {id: 'kr-run', onchange: () => this.selectRun(this.runSelect.value)});
    this.methodSelect = el('select', {id: 'kr-method', onchange: () => this.selectTag(this.methodSelect.value)});
    this.targetSelect = el('select', {id: 'kr-target', onchange: () => {
      s.target = this.targetSelect.value; this.refresh();
    }});
    this.filterSelect = el('select', {id: 'kr-filter', onchange: () => {
      s.filter = this.filterSelect.value; s.offset = 0; this.refresh();
    }});
    this.fillSelect(this.filterSelect, [['all', 'all'], ['correct', 'correct'],
      ['misclassified', 'misclassified']]);
    this.stepSlider = el('input', {id: 'kr-step', type: 'range', min: 0, max: 0, value: 0,
      oninput: () => { this.stepLabel.textContent = this.stepText(Number(this.stepSlider.value)); },
      onchange: () => { s.stepIndex = Number(this.stepSlider.value); this.refresh(); }});
    this.stepLabel = el('span', {class: 'kr-step-label'});
    this.pageSize = el('select', {id: 'kr-limit', onchange: () => {
      s.limit = Number(this.pageSize.value); s.offset = 0; this.refresh();
    }});
    this.fillSelect(this.pageSize, PAGE_SIZES.map((n) => [String(n), `${n} / page`]));
    this.pageSize.value = String(s.limit);
    this.prev = el('button', {type: 'button', text: '‹ prev', onclick: () => this.page(-1)});
    this.next = el('button', {type: 'button', text: 'next ›', onclick: () => this.page(1)});
    this.pageLabel = el('span', {class: 'kr-page-label'});
    const label = (text, control) => el('label', {}, el('span', {text}), control);
    this.status = el('div', {class: 'kr-status', text: 'loading…'});
    this.notes = el('div', {class: 'kr-notes'});
    this.list = el('div', {class: 'kr-list', id: 'kr-list'});
    this.detail = el('div', {class: 'kr-detail', id: 'kr-detail'});
    this.deletion = el('div', {class: 'kr-deletion', id: 'kr-deletion'});
    const legend = el('div', {class: 'kr-legend-bar'},
      el('span', {class: 'kr-token', style: `background-color: ${tokenColor(-1, 1)}`, text: 'negative'}),
      el('span', {class: 'kr-gradient'}),
      el('span', {class: 'kr-token kr-dark', style: `background-color: ${tokenColor(1, 1)}`,
        text: 'positive'}),
      el('span', {class: 'kr-hint', text: 'relevance for the target class, scaled per sentence; ' +
        'hover a word for its value'}));
    this.root.append(
      el('header', {class: 'kr-header'},
        el('h1', {text: 'Relevance'}),
        el('div', {class: 'kr-controls'},
          label('Run', this.runSelect), label('Method', this.methodSelect),
          label('Target class', this.targetSelect), label('Samples', this.filterSelect),
          el('label', {class: 'kr-step'}, el('span', {text: 'Step'}), this.stepSlider, this.stepLabel))),
      this.status, this.notes, legend,
      el('div', {class: 'kr-columns'},
        el('section', {class: 'kr-panel kr-main'},
          el('div', {class: 'kr-pager'}, el('h2', {text: 'Samples'}), this.pageLabel, this.prev,
            this.next, this.pageSize),
          this.list),
        el('div', {class: 'kr-side'},
          el('section', {class: 'kr-panel'}, this.detail),
          el('section', {class: 'kr-panel'}, el('h2', {text: 'Deletion curves'}), this.deletion))));
  }

  fillSelect(select, options) {
    select.replaceChildren(...options.map(([value, text]) => el('option', {value, text})));
  }

  fail(where, error) {
    where.replaceChildren(el('div', {class: 'kr-error', text: String(error.message || error)}));
  }

  runInfo() {
    return this.listing.runs.find((r) => r.run === this.state.run);
  }

  tagInfo() {
    const run = this.runInfo();
    return run && run.heatmaps.find((h) => h.tag === this.state.tag);
  }

  steps() {
    const info = this.tagInfo();
    return (info && info.steps) || [];
  }

  stepText(i) {
    const steps = this.steps();
    return steps.length ? `${steps[i]}  (${i + 1}/${steps.length})` : 'no steps';
  }

  async selectRun(run) {
    const s = this.state;
    s.run = run;
    this.runSelect.value = run;
    const info = this.runInfo();
    const readable = info.heatmaps.filter((h) => !h.error);
    this.fillSelect(this.methodSelect, info.heatmaps.map((h) => [h.tag, h.error ?
      `${h.method || h.tag} (unreadable)` : (h.method || h.tag)]));
    const errors = [...info.heatmaps, ...info.deletion_curves, ...(info.unreadable || [])]
      .filter((h) => h.error);
    this.notes.querySelectorAll('.kr-item-error').forEach((n) => n.remove());
    for (const h of errors) {
      this.notes.append(el('div', {class: 'kr-notice kr-item-error', text: `${h.tag}: ${h.error}`}));
    }
    if (readable.length) await this.selectTag(readable[0].tag);
    else {
      this.list.replaceChildren(el('div', {class: 'kr-status', text: 'no readable heatmaps in this run'}));
      await this.loadDeletion();
      document.body.dataset.krReady = '1';
    }
  }

  async selectTag(tag) {
    const s = this.state;
    const previous = this.steps()[s.stepIndex];
    s.tag = tag;
    this.methodSelect.value = tag;
    const info = this.tagInfo();
    if (info.error) return this.fail(this.list, new Error(`${tag}: ${info.error}`));
    const steps = this.steps();
    const keep = steps.indexOf(previous);
    s.stepIndex = keep >= 0 ? keep : steps.length - 1;
    this.stepSlider.max = String(Math.max(0, steps.length - 1));
    this.stepSlider.value = String(s.stepIndex);
    this.stepSlider.disabled = steps.length < 2;
    this.stepLabel.textContent = this.stepText(s.stepIndex);
    const targets = [];
    if (info.has_labels) targets.push(['pred', 'predicted class'], ['true', 'true class']);
    for (const c of info.classes || []) targets.push([String(c), className(info.class_names, c)]);
    const current = s.target;
    this.fillSelect(this.targetSelect, targets);
    s.target = targets.some(([v]) => v === current) ? current : (targets[0] || ['pred'])[0];
    this.targetSelect.value = s.target;
    this.filterSelect.disabled = !info.has_labels;
    await this.refresh();
  }

  page(direction) {
    const s = this.state;
    s.offset = Math.max(0, s.offset + direction * s.limit);
    this.refresh();
  }

  async refresh() {
    this.stepLabel.textContent = this.stepText(this.state.stepIndex);
    await this.loadPage();
    await Promise.all([this.loadDetail(), this.loadDeletion()]);
    document.body.dataset.krReady = '1';
  }

  async loadPage() {
    const s = this.state;
    const seq = ++this.seq;
    this.status.textContent = 'loading…';
    let page;
    try {
      page = await api('heatmaps', {run: s.run, tag: s.tag, step: this.steps()[s.stepIndex],
        offset: s.offset, limit: s.limit, filter: s.filter});
    } catch (e) {
      this.status.textContent = '';
      return this.fail(this.list, e);
    }
    if (seq !== this.seq) return;
    this.status.textContent = '';
    this.pageInfo = page;
    const end = Math.min(page.total, page.offset + page.samples.length);
    this.pageLabel.textContent = page.total ?
      `${page.offset + 1}–${end} of ${page.total.toLocaleString('en-US')}` : 'no samples';
    this.prev.disabled = page.offset === 0;
    this.next.disabled = end >= page.total;
    const rows = page.samples.map((sample) => {
      const c = resolveClass(s.target, sample);
      const row = el('div', {class: 'kr-row', 'data-id': sample.id, tabindex: '0',
        onclick: () => this.select(sample.id), onkeydown: (e) => {
          if (e.key === 'Enter') this.select(sample.id);
        }},
      el('span', {class: 'kr-index', text: `#${sample.index}`}),
      heatmap(sample.tokens, sample.scores[String(c)]),
      badges(sample, page.class_names));
      if (sample.id === s.selected) row.classList.add('kr-selected');
      return row;
    });
    this.list.replaceChildren(...rows);
    if (!page.samples.some((x) => x.id === s.selected) && page.samples.length) {
      s.selected = page.samples[0].id;
      this.list.firstChild.classList.add('kr-selected');
    }
  }

  select(id) {
    this.state.selected = id;
    for (const row of this.list.children) row.classList.toggle('kr-selected', row.dataset.id === id);
    this.loadDetail();
  }

  async loadDetail() {
    const s = this.state;
    if (s.selected == null) return this.detail.replaceChildren();
    const step = this.steps()[s.stepIndex];
    let side, history;
    try {
      [side, history] = await Promise.all([
        api('sample', {run: s.run, id: s.selected, step}),
        api('sample_history', {run: s.run, tag: s.tag, id: s.selected}),
      ]);
    } catch (e) {
      return this.fail(this.detail, e);
    }
    if (s.selected !== side.id) return;
    const names = (this.tagInfo() || {}).class_names;
    const first = side.methods.find((m) => m.sample);
    const sample = first ? first.sample : null;
    const c = sample ? resolveClass(s.target, sample) : null;
    const heading = el('h2', {}, 'Sample ', el('code', {text: s.selected}));
    const parts = [heading];
    if (sample) parts.push(el('div', {class: 'kr-meta'}, badges(sample, names),
      el('span', {text: ` explaining: ${className(names, c)}`})));
    const methods = el('table', {class: 'kr-table', id: 'kr-methods'});
    for (const m of side.methods) {
      const cell = m.error ? el('span', {class: 'kr-error', text: m.error}) :
        heatmap(m.sample.tokens, m.sample.scores[String(c)]);
      const tr = el('tr', {}, el('th', {text: m.method || m.tag}), el('td', {}, cell));
      if (m.tag === s.tag) tr.classList.add('kr-current');
      methods.append(tr);
    }
    parts.push(el('h3', {text: `Methods side by side — step ${side.step}`}), methods);
    const steps = el('table', {class: 'kr-table', id: 'kr-history'});
    for (const h of history.history) {
      const cell = h.error ? el('span', {class: 'kr-error', text: h.error}) :
        heatmap(h.sample.tokens, h.sample.scores[String(resolveClass(s.target, h.sample))]);
      const tr = el('tr', {}, el('th', {text: `step ${h.step}`}), el('td', {}, cell));
      if (h.step === step) tr.classList.add('kr-current');
      steps.append(tr);
    }
    parts.push(el('h3', {text: `Across steps — ${history.method || history.tag}`}),
      el('div', {class: 'kr-scroll'}, steps));
    this.detail.replaceChildren(...parts);
  }

  async loadDeletion() {
    const s = this.state;
    const info = this.runInfo();
    if (!info || !info.deletion_curves.length) {
      return this.deletion.replaceChildren(el('div', {class: 'kr-status',
        text: 'no deletion curves in this run'}));
    }
    const wanted = this.steps()[s.stepIndex];
    const charts = [];
    for (const d of info.deletion_curves) {
      if (d.error) {
        charts.push(el('div', {class: 'kr-error', text: `${d.tag}: ${d.error}`}));
        continue;
      }
      // the logged step at or before the heatmap step (else the first one)
      const before = (d.steps || []).filter((x) => wanted == null || x <= wanted);
      const step = before.length ? before[before.length - 1] : (d.steps || [])[0];
      try {
        const body = await api('deletion_curves', {run: s.run, tag: d.tag, step});
        for (const item of body.deletion_curves) {
          charts.push(item.error ? el('div', {class: 'kr-error', text: `${item.tag}: ${item.error}`}) :
            el('figure', {class: 'kr-figure'}, lineChart(item),
              el('figcaption', {text: `${item.tag} · step ${item.step}`})));
        }
      } catch (e) {
        charts.push(el('div', {class: 'kr-error', text: `${d.tag}: ${e.message}`}));
      }
    }
    this.deletion.replaceChildren(...charts);
  }
}

export async function render() {
  document.title = 'keras-relevance';
  const css = el('link', {rel: 'stylesheet', href: 'static/style.css'});
  document.head.append(css);
  const root = el('div', {class: 'kr-root'});
  document.body.append(root);
  await new Dashboard(root).start();
}
