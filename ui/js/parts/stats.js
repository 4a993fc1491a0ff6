// A campaign's numbers: the progress bar, each count, and the sends per
// second over the last 5 s of what the polling saw.
import { h, put } from '../dom.js';
import { progress } from '../format.js';

const WINDOW_MS = 5000;

export function statsPanel() {
  const el = h('div', { class: 'stats' });
  let samples = [];             // [ms, sent + failed]

  function rate(c) {
    const now = Date.now();
    const done = (c.stats?.sent ?? 0) + (c.stats?.failed ?? 0);
    samples = [...samples, [now, done]].filter(([t]) => now - t <= WINDOW_MS);
    if (c.status !== 'running' || samples.length < 2) return '—';
    const [t0, d0] = samples[0];
    const per = ((done - d0) * 1000) / Math.max(now - t0, 1);
    return per.toFixed(per < 10 ? 1 : 0);
  }

  function show(c) {
    const s = c.stats ?? {};
    const cells = [['Total', s.total], ['Pending', s.pending], ['Sent', s.sent],
      ['Failed', s.failed], ['Cancelled', s.cancelled], ['Delivered', s.delivered],
      ['Undelivered', s.undelivered], ['Sent per second', rate(c)]];
    put(el, progress(s, 'Recipients done'),
      h('dl', { class: 'numbers' }, cells.map(([k, v]) =>
        h('div', { class: 'number', 'data-stat': k.toLowerCase().replace(/ /g, '-') },
          h('dt', {}, k), h('dd', {}, String(v ?? 0))))));
  }
  return { el, show };
}
