// Token heatmaps: the colour of a relevance value, a sentence as coloured spans (tokens are text
// nodes, never HTML) and the true / predicted class badges of a sample.
import {className, el, fmt} from './dom.js';

const POS = [214, 39, 40]; // supports the explained class: red
const NEG = [31, 119, 180]; // speaks against it: blue

/** Background colour of a token: white → red (positive) / blue (negative), |score| / maxAbs. */
export function tokenColor(score, maxAbs) {
  if (score == null || !Number.isFinite(score) || !(maxAbs > 0)) return 'rgb(255, 255, 255)';
  const a = Math.min(1, Math.abs(score) / maxAbs);
  const end = score >= 0 ? POS : NEG;
  const mix = (c) => Math.round(255 + (c - 255) * a);
  return `rgb(${mix(end[0])}, ${mix(end[1])}, ${mix(end[2])})`;
}

/** Which class's scores to draw for a sample, given the target selector. */
export function resolveClass(target, sample) {
  if (target === 'pred') return sample.prediction;
  if (target === 'true') return sample.label;
  return Number(target);
}

export function maxAbsOf(values) {
  let m = 0;
  for (const v of values || []) if (v != null && Math.abs(v) > m) m = Math.abs(v);
  return m;
}

/** The largest |score| of a step (over all samples and logged classes): `max_abs` of a route. */
export function stepMax(maxAbs) {
  return Math.max(0, ...Object.values(maxAbs || {}).filter((v) => v != null));
}

/** A sentence as coloured spans; `scale` = the |score| drawn at full colour (null: its own max). */
export function heatmap(tokens, scores, scale = null) {
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

export function badges(sample, classNames) {
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
