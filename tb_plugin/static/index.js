// keras-relevance dashboard: token heatmaps, deletion curves and AOPC over steps, kept live.
//
// Loaded by TensorBoard as an ES module (FrontendMetadata.es_module_path) inside its plugin iframe,
// whose base URL is /data/plugin/keras_relevance/, so routes are fetched by relative URL. No build
// step, no third-party scripts. Tokens and method names are untrusted: they only ever reach the page
// through textContent / createTextNode, never innerHTML.
//
// index.js holds the Dashboard's state, shell and live polling; its other methods come from
// samples.js (the sample list, colour scale and the selected sentence) and panels.js (deletion
// curves, AOPC, the typed sentence, top words, downloads) and corpus.js (explain_corpus folders in
// the logdir). All files are served from static/.
import {api} from './api.js';
import {corpus} from './corpus.js';
import {autoReload, className, darkMode, el, readHash} from './dom.js';
import {panels} from './panels.js';
import {samples} from './samples.js';

export {tokenColor} from './heatmap.js';

const PAGE_SIZES = [10, 25, 50, 100];
const POLL_MS = 5000; // new runs and steps appear within this (and on TensorBoard's reload)
const SCALES = [['sentence', 'per sentence'], ['step', 'per step (all samples)'],
  ['fixed', 'fixed value']];

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
    const corpora = this.loadCorpora(); // independent of the runs: a logdir may hold only a corpus
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
        'this page looks again every few seconds. explain_corpus output folders in the ' +
        'logdir are shown in the Corpus panel.';
      document.body.dataset.krReady = '1';
    } else {
      this.fillRuns(runs);
      const first = runs.find((r) => r.run === this.state.run) ||
        [...runs].sort((a, b) => b.heatmaps.length - a.heatmaps.length)[0]; // richest run
      await this.selectRun(first.run, this.state.tag);
    }
    await corpora;
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
      await this.loadCorpora();
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
    this.corpusSelect = el('select', {id: 'kr-corpus', onchange: () =>
      this.showCorpus(this.corpusSelect.value)});
    this.corpusBody = el('div', {class: 'kr-corpus-body', id: 'kr-corpus-body'});
    this.corpusPanel = el('section', {class: 'kr-panel kr-corpus', id: 'kr-corpus-panel', hidden: ''},
      el('div', {class: 'kr-pager'}, el('h2', {text: 'Corpus'}),
        label('explain_corpus output', this.corpusSelect)), this.corpusBody);
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
          el('section', {class: 'kr-panel'}, el('h2', {text: 'Deletion curves'}), this.deletion))),
      this.corpusPanel);
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

}

Object.assign(Dashboard.prototype, samples, panels, corpus);

export async function render() {
  document.title = 'keras-relevance';
  const css = el('link', {rel: 'stylesheet', href: 'static/style.css'});
  document.head.append(css);
  const root = el('div', {class: 'kr-root'});
  document.body.append(root);
  await new Dashboard(root).start();
}
