// Page helpers of the dashboard: elements built only with textContent / setAttribute (never an
// HTML string), number and class-name formatting, downloads, the URL hash and TensorBoard's
// settings (reload, dark mode).

export function el(tag, attrs = {}, ...children) {
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

export function fmt(x) {
  if (x == null) return 'n/a';
  const s = x.toPrecision(3);
  return x > 0 ? `+${s}` : s;
}

export function className(classNames, c) {
  if (c == null) return '?';
  return classNames && classNames[c] != null ? classNames[c] : `class ${c}`;
}


export function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const link = el('a', {href: url, download: name});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function csvCell(v) {
  const s = v == null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function readHash() {
  return Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
}

/** TensorBoard's "Reload data" setting (its local storage; on unless the user turned it off). */
export function autoReload() {
  try {
    const settings = JSON.parse(localStorage.getItem('_tb_global_settings') || '{}');
    return settings.autoReload !== false;
  } catch (e) {
    return true;
  }
}

export function darkMode() {
  let parentDark = false;
  try {
    const body = window.parent && window.parent !== window && window.parent.document.body;
    parentDark = !!body && body.classList.contains('dark-mode');
  } catch (e) { /* another origin: only the media query */ }
  const query = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  return parentDark || query || new URLSearchParams(location.search).get('darkMode') === 'true';
}
