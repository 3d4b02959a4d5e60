// Small formatting and DOM helpers shared by the views.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false)
      continue;
    if (key === 'class')
      node.className = value;
    else if (key === 'text')
      node.textContent = value;
    else if (key.startsWith('on'))
      node.addEventListener(key.slice(2), value);
    else
      node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children)
    if (child !== null && child !== undefined)
      node.append(child);
  return node;
}

// Sets textContent only when it changed, so screen readers and selections are not disturbed.
export function setText(node, text) {
  const s = String(text);
  if (node.textContent !== s)
    node.textContent = s;
}

export function num(value, digits = 0) {
  if (typeof value !== 'number' || !Number.isFinite(value))
    return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ms(value) {
  if (typeof value !== 'number' || !Number.isFinite(value))
    return '–';
  return value < 10 ? `${num(value, 1)} ms` : `${num(value, 0)} ms`;
}

export function percent(fraction) {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction))
    return '–';
  return `${Math.round(fraction * 100)}%`;
}

export function bytes(value) {
  if (typeof value !== 'number' || !Number.isFinite(value))
    return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = value;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${num(v, i === 0 ? 0 : 1)} ${units[i]}`;
}

export function clock(unixSeconds) {
  const d = new Date(unixSeconds * 1000);
  return d.toLocaleTimeString('en-GB', { hour12: false });
}

export function shortId(id) {
  return typeof id === 'string' ? id.slice(0, 12) : '';
}

// Plays a CSS animation class on node once, from the start even when it is still playing
// (a class added twice does not replay); the class goes away when the animation ends.
export function flash(node, cls = 'flash') {
  node.classList.remove(cls);
  void node.offsetWidth;
  node.classList.add(cls);
  node.addEventListener('animationend', () => node.classList.remove(cls), { once: true });
}
