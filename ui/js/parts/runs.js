// The runs of a series, newest first.
import { h, messageBox, say, thead, fillRows } from '../dom.js';
import { get } from '../api.js';
import { badge, timeEl, progress } from '../format.js';
import { pager } from './pager.js';

export function runsTable(id) {
  const body = h('tbody');
  const problem = messageBox('error');
  const pages = pager(async (cursor) => {
    try {
      const { data } = await get(`/campaigns/${encodeURIComponent(id)}/runs`, { limit: 20, cursor });
      fillRows(body, data.data, (r) => h('tr', {},
        h('td', {}, h('a', { href: `#/campaigns/${encodeURIComponent(r.id)}` }, timeEl(r.scheduled_at, 'run'))),
        h('td', {}, badge(r.status)),
        h('td', {}, progress(r.stats, 'Run progress')),
        h('td', {}, r.failure ?? '')), 4, 'No run yet.');
      return data.next_cursor;
    } catch (err) {
      say(problem, err.message);
      return null;
    }
  });
  const el = h('section', { class: 'card', 'aria-labelledby': 'runs-h' },
    h('h2', { id: 'runs-h' }, 'Runs'), problem,
    h('div', { class: 'table-wrap' }, h('table', {},
      thead(['Run at', 'Status', 'Progress', 'Note']), body)),
    pages.el);
  pages.first();
  return { el, refresh: () => pages.again() };
}
