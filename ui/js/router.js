// A small router on location.hash: "#/campaigns/ID?tab=x". A view is
// view(outlet, params, query) and may return a function that stops what
// it started (polling), called when the user navigates away. Each view
// draws into a fresh container of its own: what a request answers after
// the user left lands in a container no longer on the page.

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
let drawn = null;               // called after each view is drawn

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
    const view = document.createElement('div');
    view.className = 'view';
    outletEl.replaceChildren(view);
    const stop = r.view(view, params, query);
    stopCurrent = typeof stop === 'function' ? stop : null;
    drawn?.();
    return;
  }
  go(fallback);
}

// Listens to the hash until stop(): logged out, no view may render;
// after() runs once each view is drawn.
export function start(outlet, home, after) {
  outletEl = outlet;
  fallback = home;
  drawn = after;
  window.addEventListener('hashchange', render);
  render();
}

export function stop() {
  window.removeEventListener('hashchange', render);
  drawn = null;
  if (stopCurrent) stopCurrent();
  stopCurrent = null;
}
