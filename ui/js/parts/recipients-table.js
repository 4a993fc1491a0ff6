// A campaign's recipients, with status and delivery filters and paging.
import { h, field, select, button, messageBox, say, thead, fillRows } from '../dom.js';
import { get } from '../api.js';
import { timeEl } from '../format.js';
import { pager } from './pager.js';

const PAGE = 50;

export function recipientsTable(id) {
  const status = select([['', 'Any'], ['pending', 'pending'], ['sent', 'sent'],
    ['failed', 'failed'], ['cancelled', 'cancelled']], '');
  const delivery = select([['', 'Any'], ['delivered', 'delivered'],
    ['undelivered', 'undelivered'], ['none', 'no receipt yet']], '');
  const body = h('tbody');
  const problem = messageBox('error');

  const pages = pager(async (cursor, latest) => {
    try {
      const { data } = await get(`/campaigns/${encodeURIComponent(id)}/recipients`, {
        status: status.value, delivery: delivery.value, limit: PAGE, cursor });
      if (!latest()) return null;
      say(problem);
      fillRows(body, data.data, (r) => h('tr', {},
        h('td', { class: 'mono' }, r.to),
        h('td', {}, h('span', { class: `rstatus rstatus-${r.status}` }, r.status)),
        h('td', {}, r.timezone ?? '—'),
        h('td', {}, timeEl(r.due_at)),
        h('td', {}, String(r.attempts)),
        h('td', {}, timeEl(r.sent_at)),
        h('td', {}, r.delivery ?? '—'),
        h('td', { class: 'error-text' }, r.last_error ?? '')), 8, 'No recipient matches.');
      return data.next_cursor;
    } catch (err) {
      if (latest()) say(problem, err.message);
      return null;
    }
  });
  status.addEventListener('change', () => pages.first());
  delivery.addEventListener('change', () => pages.first());

  const el = h('section', { class: 'card', 'aria-labelledby': 'recipients-h' },
    h('h2', { id: 'recipients-h' }, 'Recipients'),
    h('div', { class: 'filters' }, field('Recipient status', status),
      field('Delivery', delivery), button('Refresh', () => pages.again())),
    problem,
    h('div', { class: 'table-wrap' }, h('table', {},
      thead(['To', 'Status', 'Time zone', 'Due', 'Attempts', 'Sent', 'Delivery', 'Last error']), body)),
    pages.el);
  pages.first();
  return { el, refresh: () => pages.again() };
}
