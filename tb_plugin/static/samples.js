// Dashboard methods for the sample list: the colour scale and its legend, one page of samples,
// and the selected sentence under every method, across steps and compared with a step or run.
// Installed on Dashboard.prototype by index.js (`this` is the Dashboard).
import {api} from './api.js';
import {className, el, fmt} from './dom.js';
import {badges, heatmap, maxAbsOf, resolveClass, stepMax, tokenColor} from './heatmap.js';

export const samples = {
  /** The |score| at full colour for a sentence of the main list (null: its own maximum). */
  scaleFor(maxAbs) {
    const s = this.state;
    if (s.scale === 'fixed') return s.fixed;
    if (s.scale === 'step') return stepMax(maxAbs);
    return null;
  },

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
  },

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
  },

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
  },

  select(id) {
    this.state.selected = id;
    for (const row of this.list.children) row.classList.toggle('kr-selected', row.dataset.id === id);
    this.loadDetail().then(() => this.writeHash());
  },

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
  },

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
  },

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
  },

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
  },
};
