// A small router on location.hash: "#/campaigns/ID?tab=x". A view is
// view(outlet, params, query) and may return a function that stops what
// it started (polling), called when the user navigates away.

const routes = [];
let stopCurrent = null;

export function route(pattern, view) {
  const names = [];
  const re = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, n) => {
    names.push(n);
    return '([^/]+)';
  })}$`);
  routes.push({ re, names, view });
}

export function go(path) {
  if (location.hash === `#${path}`) render();
  else location.hash = path;
}

export function current() {
  const [path, qs = ''] = location.hash.replace(/^#/, '').split('?');
  return { path: path || '/', query: new URLSearchParams(qs) };
}

let outletEl = null;
let fallback = '/';

export function render() {
  if (stopCurrent) stopCurrent();
  stopCurrent = null;
  const { path, query } = current();
  for (const r of routes) {
    const m = r.re.exec(path);
    if (!m) continue;
    let params;
    try {
      params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
    } catch {
      break;                    // a malformed %-escape: no such page
    }
    outletEl.replaceChildren();
    const stop = r.view(outletEl, params, query);
    stopCurrent = typeof stop === 'function' ? stop : null;
    return;
  }
  go(fallback);
}

// Listens to the hash until stop(): logged out, no view may render.
export function start(outlet, home) {
  outletEl = outlet;
  fallback = home;
  window.addEventListener('hashchange', render);
  render();
}

export function stop() {
  window.removeEventListener('hashchange', render);
  if (stopCurrent) stopCurrent();
  stopCurrent = null;
}
