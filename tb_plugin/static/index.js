// keras-relevance dashboard: token heatmaps, deletion curves and AOPC over steps, kept live.
//
// Loaded by TensorBoard as an ES module (FrontendMetadata.es_module_path) inside its plugin iframe,
// whose base URL is /data/plugin/keras_relevance/, so routes are fetched by relative URL. No build
// step, no third-party scripts. Tokens and method names are untrusted: they only ever reach the page
// through textContent / createTextNode, never innerHTML.
import {aopcChart, deletionChart} from './charts.js';

const POS = [214, 39, 40]; // supports the explained class: red
const NEG = [31, 119, 180]; // speaks against it: blue
const PAGE_SIZES = [10, 25, 50, 100];
const POLL_MS = 5000; // new runs and steps appear within this (and on TensorBoard's reload)
const SCALES = [['sentence', 'per sentence'], ['step', 'per step (all samples)'],
  ['fixed', 'fixed value']];

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

async function api(route, params = {}) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') query.set(k, v);
  const response = await fetch(`${route}?${query}`, {cache: 'no-store'});
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

function maxAbsOf(values) {
  let m = 0;
  for (const v of values || []) if (v != null && Math.abs(v) > m) m = Math.abs(v);
  return m;
}

/** The largest |score| of a step (over all samples and logged classes): `max_abs` of a route. */
function stepMax(maxAbs) {
  return Math.max(0, ...Object.values(maxAbs || {}).filter((v) => v != null));
}

/** A sentence as coloured spans; `scale` = the |score| drawn at full colour (null: its own max). */
function heatmap(tokens, scores, scale = null) {
  const line = el('div', {class: 'kr-sentence'});
  if (!scores) {
    line.classList.add('kr-missing');
    line.append(el('span', {class: 'kr-note', text: 'class not explained for this sample'}), ' ');
  }
  const values = scores || [];
  const maxAbs = scale == null ? maxAbsOf(values) : scale;
  line.dataset.scale = String(maxAbs);
  tokens.forEach((token, i) => {
    const score = values[i];
    const span = el('span', {class: 'kr-token'});
    span.textContent = token;
    span.style.backgroundColor = tokenColor(score, maxAbs);
    if (maxAbs > 0 && score != null && Math.abs(score) / maxAbs > 0.6) span.classList.add('kr-dark');
    span.dataset.score = score == null ? '' : String(score);
    span.title = `${token}: ${fmt(score)}`;
    line.append(span, el('sub', {class: 'kr-value', text: score == null ? '' : fmt(score)}), ' ');
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

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const link = el('a', {href: url, download: name});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function csvCell(v) {
  const s = v == null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function readHash() {
  return Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
}

/** TensorBoard's "Reload data" setting (its local storage; on unless the user turned it off). */
function autoReload() {
  try {
    const settings = JSON.parse(localStorage.getItem('_tb_global_settings') || '{}');
    return settings.autoReload !== false;
  } catch (e) {
    return true;
  }
}

function darkMode() {
  let parentDark = false;
  try {
    const body = window.parent && window.parent !== window && window.parent.document.body;
    parentDark = !!body && body.classList.contains('dark-mode');
  } catch (e) { /* another origin: only the media query */ }
  const query = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  return parentDark || query || new URLSearchParams(location.search).get('darkMode') === 'true';
}

class Dashboard {
  constructor(root) {
    this.root = root;
    const h = readHash();
    this.state = {run: h.run || null, tag: h.tag || null, target: h.target || 'pred', stepIndex: 0,
      offset: 0, limit: 25, filter: 'all', selected: h.sample || null,
      scale: SCALES.some(([v]) => v === h.scale) ? h.scale : 'sentence',
      fixed: Number(h.fixed) > 0 ? Number(h.fixed) : 1, follow: !h.step, compare: ''};
    this.wantStep = h.step != null ? Number(h.step) : null;
    this.listing = null;
    this.seq = 0; // drops answers to superseded requests
    this.polls = 0;
  }

  async start() {
    this.buildShell();
    this.applyTheme();
    try {
      this.listing = await api('runs');
    } catch (e) {
      return this.fail(this.status, e);
    }
    this.showNotes();
    const runs = this.readableRuns();
    if (!runs.length) {
      this.status.textContent = 'No keras-relevance data yet. Log some with ' +
        'keras_relevance.callbacks.ExplanationLogger or keras_relevance_tb.summary; ' +
        'this page looks again every few seconds.';
      document.body.dataset.krReady = '1';
    } else {
      this.fillRuns(runs);
      const first = runs.find((r) => r.run === this.state.run) ||
        [...runs].sort((a, b) => b.heatmaps.length - a.heatmaps.length)[0]; // richest run
      await this.selectRun(first.run, this.state.tag);
    }
    this.startPolling();
  }

  // ---- live: poll /runs, on a timer, on TensorBoard's reload and when the tab is shown --------
  startPolling() {
    const interval = Number(new URLSearchParams(location.search).get('poll')) || POLL_MS;
    setInterval(() => { if (!document.hidden && autoReload()) this.poll(); }, interval);
    // TensorBoard's reload button (same origin: the frame can listen on its parent's page)
    try {
      window.parent.document.addEventListener('click', (e) => {
        if (e.target && e.target.closest && e.target.closest('.reload-button')) this.poll();
      }, true);
    } catch (e) { /* not inside TensorBoard */ }
    document.addEventListener('visibilitychange', () => { if (!document.hidden) this.poll(); });
    window.addEventListener('focus', () => this.poll());
    // TensorBoard's plugin host posts messages to the iframe (runs changed, reload): look again.
    window.addEventListener('message', () => this.poll());
    if (window.matchMedia) {
      window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change',
        () => this.applyTheme());
    }
  }

  async poll() {
    const now = Date.now();
    if (this.polling || now - (this.lastPoll || 0) < 400) return; // bursts of events: one request
    this.lastPoll = now;
    this.polling = true;
    try {
      this.applyTheme();
      const listing = await api('runs');
      this.polls += 1;
      document.body.dataset.krPolls = String(this.polls);
      const before = JSON.stringify(this.listing);
      if (JSON.stringify(listing) === before) return;
      const oldSteps = this.steps();
      this.listing = listing;
      this.showNotes();
      const runs = this.readableRuns();
      if (!runs.length) return;
      this.fillRuns(runs);
      if (!this.state.run || !this.runInfo()) {
        await this.selectRun(runs[0].run);
        return;
      }
      this.runSelect.value = this.state.run;
      const steps = this.steps();
      const s = this.state;
      const current = oldSteps[s.stepIndex];
      s.stepIndex = s.follow ? steps.length - 1 : Math.max(0, steps.indexOf(current));
      this.updateSlider();
      await this.refresh();
    } catch (e) {
      this.status.textContent = `could not refresh: ${e.message}`;
    } finally {
      this.polling = false;
    }
  }

  applyTheme() {
    document.body.classList.toggle('kr-dark-mode', darkMode());
  }

  readableRuns() {
    return this.listing.runs.filter((r) => r.heatmaps.length || r.deletion_curves.length);
  }

  showNotes() {
    this.notes.querySelectorAll('.kr-loader-note').forEach((n) => n.remove());
    for (const note of this.listing.notes) {
      this.notes.append(el('div', {class: 'kr-notice kr-loader-note', text: note}));
    }
  }

  fillRuns(runs) {
    const names = [...runs].map((r) => r.run).sort();
    this.fillSelect(this.runSelect, names.map((r) => [r, r]));
    if (this.state.run) this.runSelect.value = this.state.run;
  }

  // ---- the page ------------------------------------------------------------------------------
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
      onchange: () => {
        s.stepIndex = Number(this.stepSlider.value);
        s.follow = s.stepIndex === this.steps().length - 1; // back at the newest: follow again
        this.refresh();
      }});
    this.stepLabel = el('span', {class: 'kr-step-label'});
    this.scaleSelect = el('select', {id: 'kr-scale', onchange: () => {
      s.scale = this.scaleSelect.value; this.redraw();
    }});
    this.fillSelect(this.scaleSelect, SCALES);
    this.scaleSelect.value = s.scale;
    this.fixedInput = el('input', {id: 'kr-fixed', type: 'number', min: '0', step: 'any',
      value: String(s.fixed), title: '|relevance| drawn at full colour', onchange: () => {
        const v = Number(this.fixedInput.value);
        if (v > 0) { s.fixed = v; this.redraw(); }
      }});
    this.valuesToggle = el('input', {id: 'kr-values', type: 'checkbox', onchange: () => {
      this.root.classList.toggle('kr-show-values', this.valuesToggle.checked);
    }});
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
    this.aopc = el('div', {class: 'kr-aopc', id: 'kr-aopc'});
    this.words = el('div', {class: 'kr-words', id: 'kr-words'});
    this.typed = el('div', {class: 'kr-typed-result', id: 'kr-typed-result'});
    this.typedText = el('textarea', {id: 'kr-typed-text', rows: '2', placeholder:
      'Type a sentence to explain with the model kept at this run’s newest logged step'});
    this.typedMethods = el('span', {class: 'kr-typed-methods', id: 'kr-typed-methods'});
    this.typedButton = el('button', {type: 'button', id: 'kr-typed-go', text: 'Explain',
      onclick: () => this.explainTyped()});
    this.legend = el('div', {class: 'kr-legend-bar', id: 'kr-legend'});
    const downloads = el('span', {class: 'kr-downloads'},
      el('button', {type: 'button', id: 'kr-download-json', text: 'JSON',
        title: "download this step's data (all samples) as JSON", onclick: () => this.download('json')}),
      el('button', {type: 'button', id: 'kr-download-csv', text: 'CSV',
        title: "download this step's data (all samples) as CSV", onclick: () => this.download('csv')}));
    this.root.append(
      el('header', {class: 'kr-header'},
        el('h1', {text: 'Relevance'}),
        el('div', {class: 'kr-controls'},
          label('Run', this.runSelect), label('Method', this.methodSelect),
          label('Explained class', this.targetSelect), label('Samples', this.filterSelect),
          el('label', {class: 'kr-step'}, el('span', {text: 'Step'}), this.stepSlider, this.stepLabel),
          label('Colour scale', this.scaleSelect), this.fixedInput,
          el('label', {}, this.valuesToggle, el('span', {text: 'values as text'})))),
      this.status, this.notes, this.legend,
      el('div', {class: 'kr-columns'},
        el('div', {},
          el('section', {class: 'kr-panel kr-main'},
            el('div', {class: 'kr-pager'}, el('h2', {text: 'Samples'}), downloads, this.pageLabel,
              this.prev, this.next, this.pageSize),
            this.list),
          el('section', {class: 'kr-panel kr-typed'}, el('h2', {text: 'Type a sentence'}),
            this.typedText, el('div', {class: 'kr-typed-bar'}, this.typedMethods, this.typedButton),
            this.typed)),
        el('div', {class: 'kr-side'},
          el('section', {class: 'kr-panel'}, this.detail),
          el('section', {class: 'kr-panel'}, el('h2', {text: 'Faithfulness over steps'}), this.aopc),
          el('section', {class: 'kr-panel'}, el('h2', {text: 'Top words of the data set'}), this.words),
          el('section', {class: 'kr-panel'}, el('h2', {text: 'Deletion curves'}), this.deletion))));
  }

  fillSelect(select, options) {
    const value = select.value;
    select.replaceChildren(...options.map(([v, text]) => el('option', {value: v, text})));
    if (options.some(([v]) => v === value)) select.value = value;
  }

  fail(where, error) {
    where.replaceChildren(el('div', {class: 'kr-error', text: String(error.message || error)}));
  }

  runInfo() {
    return this.listing && this.listing.runs.find((r) => r.run === this.state.run);
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
    if (!steps.length) return 'no steps';
    const newest = i === steps.length - 1 && this.state.follow ? ' · following newest' : '';
    return `${steps[i]}  (${i + 1}/${steps.length})${newest}`;
  }

  updateSlider() {
    const s = this.state;
    const steps = this.steps();
    this.stepSlider.max = String(Math.max(0, steps.length - 1));
    this.stepSlider.value = String(s.stepIndex);
    this.stepSlider.disabled = steps.length < 2;
    this.stepLabel.textContent = this.stepText(s.stepIndex);
  }

  /** The class names of the current method (logged with the data). */
  names() {
    return (this.tagInfo() || {}).class_names;
  }

  writeHash() {
    const s = this.state;
    const h = new URLSearchParams();
    if (s.run) h.set('run', s.run);
    if (s.tag) h.set('tag', s.tag);
    if (!s.follow && this.steps().length) h.set('step', String(this.steps()[s.stepIndex]));
    if (s.selected != null) h.set('sample', s.selected);
    h.set('target', s.target);
    h.set('scale', s.scale);
    if (s.scale === 'fixed') h.set('fixed', String(s.fixed));
    // the full path: the page's <base> points at the plugin's routes, so '#...' alone would not do
    history.replaceState(null, '', `${location.pathname}${location.search}#${h}`);
  }

  async selectRun(run, tag = null) {
    const s = this.state;
    s.run = run;
    this.status.textContent = '';
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
    if (readable.length) {
      await this.selectTag((readable.find((h) => h.tag === tag) || readable[0]).tag);
      this.fillTypedMethods();
    } else {
      this.list.replaceChildren(el('div', {class: 'kr-status', text: 'no readable heatmaps in this run'}));
      await Promise.all([this.loadDeletion(), this.loadAopc()]);
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
    const wanted = this.wantStep != null ? this.wantStep : previous;
    this.wantStep = null;
    const keep = steps.indexOf(wanted);
    s.stepIndex = !s.follow && keep >= 0 ? keep : steps.length - 1;
    if (keep < 0) s.follow = true;
    this.updateSlider();
    const targets = [];
    if (info.has_labels) targets.push(['pred', 'predicted class'], ['true', 'true class']);
    else targets.push(['pred', 'predicted class']);
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
    await Promise.all([this.loadDetail(), this.loadDeletion(), this.loadAopc(), this.loadWords()]);
    this.writeHash();
    document.body.dataset.krReady = '1';
    document.body.dataset.krStep = String(this.steps()[this.state.stepIndex]);
  }

  /** Re-colour without fetching (scale changes). */
  redraw() {
    this.fixedInput.hidden = this.state.scale !== 'fixed';
    if (this.pageInfo) this.drawPage(this.pageInfo);
    if (this.detailData) this.drawDetail(...this.detailData);
    this.writeHash();
  }

  /** The |score| at full colour for a sentence of the main list (null: its own maximum). */
  scaleFor(maxAbs) {
    const s = this.state;
    if (s.scale === 'fixed') return s.fixed;
    if (s.scale === 'step') return stepMax(maxAbs);
    return null;
  }

  drawLegend(scale) {
    const s = this.state;
    const names = this.names();
    const cls = ['pred', 'true'].includes(s.target) ?
      (s.target === 'pred' ? 'the predicted class' : 'the true class') : className(names, Number(s.target));
    const ends = scale == null ? 'max' : fmt(scale).replace('+', '');
    const how = {sentence: 'scaled per sentence (max = its largest |value|, shown at its right)', step: 'one scale for all samples of this step',
      fixed: 'fixed scale'}[s.scale];
    this.legend.replaceChildren(
      el('span', {class: 'kr-token kr-dark kr-legend-end', style: `background-color: ${tokenColor(-1, 1)}`,
        text: `−${ends}`}),
      el('span', {class: 'kr-legend-label', text: `speaks against ${cls}`}),
      el('span', {class: 'kr-gradient'}),
      el('span', {class: 'kr-legend-label', text: `supports ${cls}`}),
      el('span', {class: 'kr-token kr-dark kr-legend-end', style: `background-color: ${tokenColor(1, 1)}`,
        text: `+${ends}`}),
      el('span', {class: 'kr-hint', text: `${how}; hover a word or tick “values as text” for numbers`}));
    this.legend.dataset.scale = scale == null ? '' : String(scale);
  }

  async loadPage() {
    const s = this.state;
    const seq = ++this.seq;
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
    this.drawPage(page);
  }

  drawPage(page) {
    const s = this.state;
    this.fixedInput.hidden = s.scale !== 'fixed';
    const scale = this.scaleFor(page.max_abs);
    this.drawLegend(scale);
    const end = Math.min(page.total, page.offset + page.samples.length);
    this.pageLabel.textContent = page.total ?
      `${page.offset + 1}–${end} of ${page.total.toLocaleString('en-US')}` : 'no samples';
    this.prev.disabled = page.offset === 0;
    this.next.disabled = end >= page.total;
    const rows = page.samples.map((sample) => {
      const c = resolveClass(s.target, sample);
      const scores = sample.scores[String(c)];
      const own = scale == null ? maxAbsOf(scores) : scale;
      const row = el('div', {class: 'kr-row', 'data-id': sample.id, tabindex: '0',
        onclick: () => this.select(sample.id), onkeydown: (e) => {
          if (e.key === 'Enter') this.select(sample.id);
        }},
      el('span', {class: 'kr-index', text: `#${sample.index}`}),
      heatmap(sample.tokens, scores, scale),
      el('span', {class: 'kr-row-meta'}, badges(sample, page.class_names),
        el('span', {class: 'kr-row-scale', title: 'the |value| drawn at full colour',
          text: `±${own.toPrecision(2)}`})));
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
    this.loadDetail().then(() => this.writeHash());
  }

  compareOptions() {
    const s = this.state;
    const opts = [['', 'nothing']];
    for (const step of this.steps()) {
      if (step !== this.steps()[s.stepIndex]) opts.push([`step:${step}`, `step ${step}`]);
    }
    for (const r of this.listing.runs) {
      if (r.run !== s.run && r.heatmaps.some((h) => h.tag === s.tag)) opts.push([`run:${r.run}`, `run ${r.run}`]);
    }
    return opts;
  }

  async loadDetail() {
    const s = this.state;
    if (s.selected == null) return this.detail.replaceChildren();
    const step = this.steps()[s.stepIndex];
    let side, history, other = null;
    try {
      const [kind, value] = s.compare ? [s.compare.split(':')[0], s.compare.slice(s.compare.indexOf(':') + 1)] : [];
      [side, history, other] = await Promise.all([
        api('sample', {run: s.run, id: s.selected, step}),
        api('sample_history', {run: s.run, tag: s.tag, id: s.selected}),
        kind ? api('sample', {run: kind === 'run' ? value : s.run, id: s.selected,
          step: kind === 'step' ? value : null}).catch((e) => ({error: e.message})) : null,
      ]);
    } catch (e) {
      return this.fail(this.detail, e);
    }
    if (s.selected !== side.id) return;
    this.detailData = [side, history, other];
    this.drawDetail(side, history, other);
  }

  drawDetail(side, history, other) {
    const s = this.state;
    const names = this.names();
    const first = side.methods.find((m) => m.sample);
    const sample = first ? first.sample : null;
    const c = sample ? resolveClass(s.target, sample) : null;
    const parts = [el('h2', {}, 'Sample ', el('code', {text: s.selected}))];
    if (sample) {
      const logits = sample.logits ? sample.logits.map((v, i) => `${className(names, i)} ${fmt(v)}`)
        .join(', ') : '';
      parts.push(el('div', {class: 'kr-meta'}, badges(sample, names),
        el('span', {text: ` explaining: ${className(names, c)}`}),
        logits ? el('span', {class: 'kr-hint', text: `scores: ${logits}`}) : ''));
    }
    const methods = el('table', {class: 'kr-table', id: 'kr-methods'});
    for (const m of side.methods) {
      const cell = m.error ? el('span', {class: 'kr-error', text: m.error}) :
        heatmap(m.sample.tokens, m.sample.scores[String(c)], this.scaleFor(m.max_abs));
      const tr = el('tr', {}, el('th', {text: m.method || m.tag}), el('td', {}, cell));
      if (m.tag === s.tag) tr.classList.add('kr-current');
      methods.append(tr);
    }
    parts.push(el('h3', {text: `Methods side by side — step ${side.step}`}), methods);

    // Across steps: one scale for every row (fixed, or the largest |value| over all rows).
    const rows = history.history.filter((h) => !h.error)
      .map((h) => h.sample.scores[String(resolveClass(s.target, h.sample))]);
    const common = s.scale === 'fixed' ? s.fixed : Math.max(0, ...rows.map(maxAbsOf));
    const steps = el('table', {class: 'kr-table', id: 'kr-history', 'data-scale': String(common)});
    for (const h of history.history) {
      const cell = h.error ? el('span', {class: 'kr-error', text: h.error}) :
        heatmap(h.sample.tokens, h.sample.scores[String(resolveClass(s.target, h.sample))], common);
      const tr = el('tr', {}, el('th', {text: `step ${h.step}`}), el('td', {}, cell));
      if (h.step === side.step) tr.classList.add('kr-current');
      steps.append(tr);
    }
    parts.push(el('h3', {text: `Across steps — ${history.method || history.tag} (one scale: ±${
      common.toPrecision(2)})`}), el('div', {class: 'kr-scroll'}, steps));

    const compare = el('select', {id: 'kr-compare', onchange: () => {
      s.compare = compare.value; this.loadDetail();
    }});
    this.fillSelect(compare, this.compareOptions());
    compare.value = s.compare;
    parts.push(el('h3', {}, 'Compare with ', compare));
    if (other) parts.push(this.compareTable(side, other, c));
    this.detail.replaceChildren(...parts);
  }

  compareTable(side, other, c) {
    const s = this.state;
    if (other.error) return el('div', {class: 'kr-error', text: other.error});
    const mine = side.methods.find((m) => m.tag === s.tag);
    const theirs = other.methods.find((m) => m.tag === s.tag);
    const pairs = [[`${s.run} · step ${side.step}`, mine], [`${other.run} · step ${other.step}`, theirs]];
    const rows = pairs.map(([, m]) => (m && m.sample ? m.sample.scores[String(c)] : null));
    const common = s.scale === 'fixed' ? s.fixed : Math.max(0, ...rows.map(maxAbsOf));
    const table = el('table', {class: 'kr-table', id: 'kr-compare-table'});
    pairs.forEach(([title, m], i) => {
      const cell = !m || m.error ? el('span', {class: 'kr-error', text: (m && m.error) || 'not logged'}) :
        heatmap(m.sample.tokens, rows[i], common);
      table.append(el('tr', {}, el('th', {text: title}), el('td', {}, cell)));
    });
    return table;
  }

  async loadDeletion() {
    const s = this.state;
    const info = this.runInfo();
    if (!info || !info.deletion_curves.length) {
      return this.deletion.replaceChildren(el('div', {class: 'kr-status',
        text: 'no deletion curves in this run (log them with ExplanationLogger(deletion_data=...))'}));
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
          const n = item.n == null ? '' : ` · n = ${item.n} sentences`;
          charts.push(item.error ? el('div', {class: 'kr-error', text: `${item.tag}: ${item.error}`}) :
            el('figure', {class: 'kr-figure'}, deletionChart(item),
              el('figcaption', {text: `${item.tag} · step ${item.step}${n}`})));
        }
      } catch (e) {
        charts.push(el('div', {class: 'kr-error', text: `${d.tag}: ${e.message}`}));
      }
    }
    this.deletion.replaceChildren(...charts);
  }

  async loadAopc() {
    const info = this.runInfo();
    if (!info || !info.deletion_curves.length) {
      return this.aopc.replaceChildren(el('div', {class: 'kr-status',
        text: 'AOPC over steps needs deletion curves (ExplanationLogger(deletion_data=...))'}));
    }
    let data;
    try {
      data = await api('aopc', {run: this.state.run, kind: 'correct'});
    } catch (e) {
      return this.fail(this.aopc, e);
    }
    const methods = Object.keys(data);
    if (!methods.length) {
      return this.aopc.replaceChildren(el('div', {class: 'kr-status', text: 'no AOPC logged yet'}));
    }
    const last = data[methods[0]][data[methods[0]].length - 1];
    const table = el('table', {class: 'kr-table kr-aopc-table'},
      el('tr', {}, el('th', {text: 'method'}), el('th', {text: 'AOPC'}),
        el('th', {text: 'area to random'}), el('th', {text: 'n'})));
    for (const m of methods) {
      const p = data[m][data[m].length - 1];
      table.append(el('tr', {}, el('td', {text: m}), el('td', {text: fmt(p.aopc)}),
        el('td', {text: fmt(p.area)}), el('td', {text: p.n == null ? '?' : String(p.n)})));
    }
    this.aopc.replaceChildren(el('figure', {class: 'kr-figure'}, aopcChart(data, 'correct'),
      el('figcaption', {text: `correctly classified sentences, most relevant words deleted first; ` +
        `latest step ${last.step}: n = ${last.n == null ? '?' : last.n} sentences`})), table);
  }

  fillTypedMethods() {
    const info = this.runInfo();
    const methods = info ? [...new Set(info.heatmaps.filter((h) => !h.error && h.method)
      .map((h) => h.method))] : [];
    const checked = new Set([...this.typedMethods.querySelectorAll('input:checked')]
      .map((i) => i.value));
    const current = (this.tagInfo() || {}).method;
    this.typedMethods.replaceChildren(...methods.map((m) => el('label', {},
      el('input', {type: 'checkbox', value: m, ...((checked.size ? checked.has(m) : m === current) ?
        {checked: ''} : {})}), ` ${m}`)));
  }

  /** POST explain: the typed text under the checked methods, with the run's kept model. */
  async explainTyped() {
    const s = this.state;
    const methods = [...this.typedMethods.querySelectorAll('input:checked')].map((i) => i.value);
    const text = this.typedText.value;
    this.typed.replaceChildren(el('div', {class: 'kr-status', text: 'explaining… (the first ' +
      'sentence starts a worker that loads the model: a few seconds)'}));
    this.typedButton.disabled = true;
    let body;
    try {
      const response = await fetch('explain', {method: 'POST', headers: {'Content-Type':
        'application/json'}, body: JSON.stringify({run: s.run, text, methods})});
      body = await response.json().catch(() => ({error: `${response.status} ${response.statusText}`}));
      if (!response.ok) throw new Error(body.error || `explain: ${response.status}`);
    } catch (e) {
      this.fail(this.typed, e);
      document.body.dataset.krTyped = 'error';
      return;
    } finally {
      this.typedButton.disabled = false;
    }
    const names = body.class_names || this.names();
    const parts = [el('div', {class: 'kr-meta'},
      el('span', {text: `model of step ${body.step} · predicted and explained: ` +
        className(names, body.target)}),
      el('span', {class: 'kr-hint', text: ` scores: ${(body.logits || []).map((v, i) =>
        `${className(names, i)} ${fmt(v)}`).join(', ')}`}))];
    if (body.unknown && body.unknown.length) {
      parts.push(el('div', {class: 'kr-notice', text: `not in the vocabulary (scored as <unk>): ` +
        body.unknown.join(' ')}));
    }
    const table = el('table', {class: 'kr-table', id: 'kr-typed-table'});
    for (const [m, scores] of Object.entries(body.relevance)) {
      const scale = s.scale === 'fixed' ? s.fixed : null;
      table.append(el('tr', {'data-method': m}, el('th', {text: m}),
        el('td', {}, heatmap(body.tokens, scores, scale))));
    }
    parts.push(table);
    this.typed.replaceChildren(...parts);
    document.body.dataset.krTyped = 'done';
  }

  /** Top words per class for the current method, at the logged step at or before the slider's,
   * with what changed since the previous logged step (new words, rank moves, dropped words). */
  async loadWords() {
    const s = this.state;
    const info = this.runInfo();
    const method = (this.tagInfo() || {}).method;
    const tag = info && (info.top_words || []).find((t) => t.method === method && !t.error);
    if (!tag) {
      return this.words.replaceChildren(el('div', {class: 'kr-status', text: 'no top words for ' +
        'this method (ExplanationLogger(summary_data=...) or deletion_data=...)'}));
    }
    const wanted = this.steps()[s.stepIndex];
    const before = (tag.steps || []).filter((x) => wanted == null || x <= wanted);
    const step = before.length ? before[before.length - 1] : (tag.steps || [])[0];
    let body;
    try {
      body = await api('top_words', {run: s.run, tag: tag.tag, step});
    } catch (e) {
      return this.fail(this.words, e);
    }
    const names = body.class_names || this.names();
    const prev = body.previous;
    const parts = [el('div', {class: 'kr-hint', text: `${body.method} · step ${body.step} · ` +
      `n = ${body.n == null ? '?' : body.n} sentences · mean relevance for the predicted class` +
      (prev ? ` · changes since step ${prev.step}` : '')})];
    const grid = el('div', {class: 'kr-words-grid'});
    for (const c of Object.keys(body.classes).sort()) {
      const before = prev && prev.classes[c] ? prev.classes[c].most.map((d) => d.word) : null;
      const list = el('ol', {class: 'kr-word-list', 'data-class': c});
      body.classes[c].most.forEach((d, rank) => {
        let change = '';
        if (before) {
          const was = before.indexOf(d.word);
          change = was < 0 ? 'new' : was > rank ? `↑${was - rank}` : was < rank ? `↓${rank - was}` : '';
        }
        list.append(el('li', {},
          el('span', {class: 'kr-word', text: d.word}),
          el('span', {class: 'kr-word-stat', text: ` ${fmt(d.mean)} ×${d.count}`}),
          change ? el('span', {class: `kr-change${change === 'new' ? ' kr-new' : ''}`, text: ` ${change}`}) : ''));
      });
      const now = new Set(body.classes[c].most.map((d) => d.word));
      const dropped = (before || []).filter((w) => !now.has(w));
      grid.append(el('div', {},
        el('h3', {text: `supports ${className(names, Number(c))}`}), list,
        dropped.length ? el('div', {class: 'kr-hint', text: `dropped: ${dropped.join(', ')}`}) : ''));
    }
    parts.push(grid);
    this.words.replaceChildren(...parts);
  }

  /** All samples of the current method and step (every page), as JSON or CSV. */
  async download(format) {
    const s = this.state;
    const step = this.steps()[s.stepIndex];
    const samples = [];
    let first;
    try {
      for (let offset = 0; ; offset += 500) {
        const page = await api('heatmaps', {run: s.run, tag: s.tag, step, offset, limit: 500});
        first = first || page;
        samples.push(...page.samples);
        if (offset + 500 >= page.total) break;
      }
    } catch (e) {
      return this.fail(this.status, e);
    }
    const base = `${s.run}_${first.method || 'heatmap'}_step${step}`.replace(/[^A-Za-z0-9_.-]/g, '_');
    if (format === 'json') {
      const {run, tag, method, classes, class_names: names} = first;
      download(`${base}.json`, 'application/json', JSON.stringify({run, tag, method, step, classes,
        class_names: names, samples}, null, 1));
      return;
    }
    const lines = [['id', 'label', 'prediction', 'class', 'class_name', 'position', 'token', 'relevance']];
    for (const x of samples) {
      for (const [c, scores] of Object.entries(x.scores)) {
        x.tokens.forEach((t, i) => lines.push([x.id, x.label, x.prediction, c,
          className(first.class_names, Number(c)), i, t, scores[i]]));
      }
    }
    download(`${base}.csv`, 'text/csv', lines.map((r) => r.map(csvCell).join(',')).join('\n'));
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
