// Dashboard methods for the panels below the samples: deletion curves, AOPC over steps, the
// "type a sentence" box, top words and the JSON / CSV downloads.
// Installed on Dashboard.prototype by index.js (`this` is the Dashboard).
import {api} from './api.js';
import {aopcChart, deletionChart} from './charts.js';
import {className, csvCell, download, el, fmt} from './dom.js';
import {heatmap} from './heatmap.js';

export const panels = {
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
  },

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
  },

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
  },

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
  },

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
  },

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
  },
};
