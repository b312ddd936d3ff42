// Dashboard methods for the Corpus panel: explain_corpus output folders found inside the logdir
// (route /corpus) and their dataset-level aggregates: top words per class and method (mean
// relevance, count), relevance by relative position (an SVG bar chart), deletion and AOPC.
// Installed on Dashboard.prototype by index.js (`this` is the Dashboard). Words are untrusted: they
// reach the page only through el() (textContent), never innerHTML.
import {api} from './api.js';
import {svg} from './charts.js';
import {className, el, fmt} from './dom.js';
import {maxAbsOf, tokenColor} from './heatmap.js';

export const corpus = {
  /** List the corpus folders; (re)draw only when the listing changed. */
  async loadCorpora() {
    let listing;
    try {
      listing = await api('corpus');
    } catch (e) {
      this.fail(this.corpusBody, e);
      document.body.dataset.krCorpusReady = '1';
      return;
    }
    const text = JSON.stringify(listing);
    if (text === this.corpusListing) return;
    this.corpusListing = text;
    const folders = listing.corpora;
    this.corpusPanel.hidden = !folders.length;
    if (!folders.length) {
      document.body.dataset.krCorpusReady = '1';
      return;
    }
    const current = this.corpusSelect.value;
    this.fillSelect(this.corpusSelect, folders.map((f) => [f.path, f.error ?
      `${f.path} (unreadable)` : `${f.path} · ${f.docs} documents`]));
    const keep = folders.some((f) => f.path === current) ? current : folders[0].path;
    this.corpusSelect.value = keep;
    await this.showCorpus(keep);
  },

  async showCorpus(path) {
    let body;
    try {
      body = await api('corpus', {path});
    } catch (e) {
      this.fail(this.corpusBody, e);
      document.body.dataset.krCorpusReady = '1';
      return;
    }
    const parts = [el('div', {class: 'kr-hint', text: `${body.path} · ${body.docs} documents · ` +
      `${body.tokens} tokens · ${body.labelled} labelled · ${body.shards} shards · words seen ` +
      `at least ${body.min_count} times; mean relevance for the explained (predicted) class`})];
    for (const [method, agg] of Object.entries(body.methods)) {
      parts.push(el('h3', {class: 'kr-corpus-method', text: method}));
      parts.push(this.corpusWords(method, agg.top_words, body.class_names));
      const row = el('div', {class: 'kr-corpus-row'}, positionChart(method, agg.position));
      row.append(faithfulness(agg));
      parts.push(row);
    }
    this.corpusBody.replaceChildren(...parts);
    document.body.dataset.krCorpusReady = '1';
  },

  corpusWords(method, topWords, classNames) {
    const all = Object.values(topWords).flatMap((l) => [...l.most, ...l.least]);
    const scale = maxAbsOf(all.map((d) => d.mean));
    const grid = el('div', {class: 'kr-words-grid'});
    for (const c of Object.keys(topWords).sort((a, b) => Number(a) - Number(b))) {
      for (const [which, title] of [['most', 'most relevant'], ['least', 'least relevant']]) {
        const list = el('ol', {class: 'kr-word-list kr-corpus-words', 'data-method': method,
          'data-class': c, 'data-which': which});
        for (const d of topWords[c][which]) {
          list.append(el('li', {},
            el('span', {class: 'kr-token kr-corpus-word', 'data-score': d.mean,
              title: `${d.word}: mean ${fmt(d.mean)} over ${d.count}`,
              style: `background-color: ${tokenColor(d.mean, scale)}`, text: d.word}),
            el('span', {class: 'kr-word-stat', text: ` ${fmt(d.mean)} ×${d.count}`})));
        }
        if (!topWords[c][which].length) list.append(el('li', {class: 'kr-hint', text: 'none'}));
        grid.append(el('div', {}, el('h4', {text: `${className(classNames, Number(c))}: ${title}`}),
          list));
      }
    }
    return grid;
  },
};

/** Mean relevance per relative-position bin (signed bars about zero). */
function positionChart(method, position) {
  const values = (position.mean || []).map((v) => v || 0);
  const W = 320, H = 150, m = {l: 44, r: 8, t: 22, b: 30};
  const chart = svg('svg', {class: 'kr-position-chart', width: W, height: H,
    viewBox: `0 0 ${W} ${H}`, role: 'img', 'data-method': method,
    'data-values': values.map((v) => v.toPrecision(6)).join(' ')});
  chart.append(svg('text', {x: m.l, y: 14, class: 'kr-chart-title'},
    'mean relevance by relative position'));
  if (!values.length) return chart;
  const lo = Math.min(0, ...values), hi = Math.max(0, ...values);
  const py = (v) => H - m.b - ((v - lo) / (hi - lo || 1)) * (H - m.t - m.b);
  const bw = (W - m.l - m.r) / values.length;
  for (const v of new Set([lo, 0, hi])) {
    chart.append(svg('text', {x: m.l - 6, y: py(v) + 4, class: 'kr-tick', 'text-anchor': 'end'},
      v.toPrecision(2)));
  }
  values.forEach((v, i) => {
    const top = Math.min(py(v), py(0));
    const bar = svg('rect', {x: m.l + i * bw + 1, y: top, width: Math.max(1, bw - 2),
      height: Math.max(1, Math.abs(py(v) - py(0))), class: 'kr-bar',
      fill: v >= 0 ? '#d62728' : '#1f77b4'});
    bar.append(svg('title', {}, `up to ${((i + 1) / values.length).toFixed(1)}: ${fmt(v)}`));
    chart.append(bar);
  });
  chart.append(svg('line', {x1: m.l, x2: W - m.r, y1: py(0), y2: py(0), class: 'kr-grid'}));
  chart.append(svg('text', {x: (m.l + W - m.r) / 2, y: H - 8, class: 'kr-axis',
    'text-anchor': 'middle'}, 'relative position in the document (0 → 1)'));
  return chart;
}

/** AOPC and the deletion curve of correctly classified documents, when labels were given. */
function faithfulness(agg) {
  if (!agg.aopc && !agg.deletion) {
    return el('div', {class: 'kr-hint', text: 'no deletion / AOPC (the corpus had no labels)'});
  }
  const table = el('table', {class: 'kr-table kr-corpus-faithfulness'});
  if (agg.aopc) {
    table.append(el('tr', {}, el('th', {text: `AOPC (n = ${agg.aopc.n})`}),
      el('td', {text: fmt(agg.aopc.aopc)})));
  }
  if (agg.deletion) {
    table.append(el('tr', {}, el('th', {text: `accuracy after k deletions (n = ${agg.deletion.n})`}),
      el('td', {text: agg.deletion.accuracy.map((v, k) => `${k}: ${v == null ? 'n/a' :
        v.toFixed(3)}`).join('  ')})));
  }
  return table;
}
