// The service's state: each type's pool (limit, running, queued,
// waiting) as bars, and the schedulers with when each was last seen.
import { h, put, messageBox, say, thead, fillRows } from '../dom.js';
import { get } from '../api.js';
import { timeEl, relative } from '../format.js';

const EVERY_MS = 2000;

function bar(label, value, max, kind) {
  return h('div', { class: 'bar-row' },
    h('span', { class: 'bar-label' }, label),
    h('meter', { class: `bar ${kind}`, min: 0, max: Math.max(max, 1), value,
      'aria-label': `${label}: ${value} of ${max}` }),
    h('span', { class: 'bar-value' }, String(value)));
}

export function statusView(outlet) {
  const problem = messageBox('error');
  const pools = h('div', { class: 'pools' });
  const schedulers = h('tbody');
  let timer = null;
  let stopped = false;

  async function load() {
    try {
      const { data } = await get('/status');
      say(problem);
      put(pools, Object.entries(data.types).sort(([a], [b]) => a.localeCompare(b)).map(([type, p]) => {
        const max = Math.max(p.limit, p.running + p.queued + p.waiting);
        return h('section', { class: 'card pool', 'aria-label': `Pool of ${type}` },
          h('h2', {}, type, p.pool ? h('span', { class: 'muted' }, ` (shares ${p.pool}'s pool)`) : null),
          h('p', { class: 'muted' }, `Limit ${p.limit} at once`),
          bar('Running', p.running, p.limit, 'running'),
          bar('Queued', p.queued, max, 'queued'),
          bar('Waiting (a window or the next wave)', p.waiting, max, 'waiting'));
      }));
      fillRows(schedulers, data.schedulers, (s) => h('tr', {},
        h('td', { class: 'mono' }, s.id), h('td', {}, timeEl(s.started_at)),
        h('td', {}, timeEl(s.last_seen), ` (${relative(s.last_seen)})`)),
        3, 'No scheduler seen in the last 30 s.');
    } catch (err) {
      say(problem, err.message);
    }
    if (!stopped) timer = setTimeout(load, EVERY_MS);
  }

  outlet.append(h('h1', { tabindex: -1 }, 'Status'), problem, pools,
    h('section', { class: 'card', 'aria-labelledby': 'sched-h' },
      h('h2', { id: 'sched-h' }, 'Schedulers'),
      h('div', { class: 'table-wrap' }, h('table', {},
        thead(['Id', 'Started', 'Last seen']), schedulers))));
  load();
  return () => { stopped = true; clearTimeout(timer); };
}
