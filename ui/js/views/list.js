// The campaign list: newest first, cursor paging, filters by status and
// type (kept in the URL, never the key), "Start now" and "Schedule" on drafts.
import { h, field, select, button, messageBox, say, thead, fillRows } from '../dom.js';
import { get, post, types } from '../api.js';
import { badge, timeEl, progress, STATUSES } from '../format.js';
import { go } from '../router.js';
import { pager } from '../parts/pager.js';

const PAGE = 20;

export function listView(outlet, _params, query) {
  const status = query.get('status') ?? '';
  const type = query.get('type') ?? '';

  const problem = messageBox('error');
  const body = h('tbody');

  const statusSel = select([['', 'Any status'], ...STATUSES.map((s) => [s, s])], status);
  const typeSel = select([['', 'Any type']], type);
  types().then((list) => {
    for (const t of list) typeSel.append(h('option', { value: t, selected: t === type }, t));
  });
  // applied on the button, not on change: a keyboard user's arrow keys
  // in a select would re-render the page under them
  const filter = (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (statusSel.value) q.set('status', statusSel.value);
    if (typeSel.value) q.set('type', typeSel.value);
    go(`/campaigns${q.size ? `?${q}` : ''}`);
  };

  async function start(c, btn) {
    btn.disabled = true;
    let refused = null;
    try {
      await post(`/campaigns/${encodeURIComponent(c.id)}/start`, {});
    } catch (err) {
      refused = `${c.name}: ${err.message}`;
    }
    await pages.again();
    if (refused) say(problem, refused);  // after the redraw, which clears the box
    if (btn.isConnected) btn.disabled = false;
    // the row and its button were redrawn: the focus was on it
    if (!outlet.contains(document.activeElement)) outlet.querySelector('h1').focus();
  }

  function row(c) {
    const link = h('a', { href: `#/campaigns/${encodeURIComponent(c.id)}` }, c.name);
    const actions = c.status === 'draft' ? [
      // the visible text first in the name (WCAG 2.5.3, label in name)
      button('Start now', (ev) => start(c, ev.currentTarget), { 'aria-label': `Start now: ${c.name}` }),
      h('a', { class: 'btn', href: `#/campaigns/${encodeURIComponent(c.id)}?schedule=1`,
        'aria-label': `Schedule: ${c.name}` }, 'Schedule'),
    ] : [];
    return h('tr', { 'data-id': c.id },
      h('td', { class: 'name' }, link, c.recurrence ? h('span', { class: 'tag' }, 'series') : null),
      h('td', {}, c.type),
      h('td', {}, badge(c.status)),
      h('td', {}, timeEl(c.recurrence ? c.next_run_at : c.scheduled_at)),
      h('td', {}, progress(c.stats, `Progress of ${c.name}`)),
      h('td', { class: 'actions' }, actions));
  }

  const pages = pager(async (cursor, latest) => {
    try {
      const { data } = await get('/campaigns', { status, type, limit: PAGE, cursor });
      if (!latest()) return null;
      say(problem);
      fillRows(body, data.data, row, 6, 'No campaigns here yet.');
      return data.next_cursor;
    } catch (err) {
      if (latest()) say(problem, err.message);
      return null;
    }
  });

  outlet.append(
    h('div', { class: 'page-head' },
      h('h1', { tabindex: -1 }, 'Campaigns'),
      h('a', { class: 'btn primary', href: '#/new' }, 'New campaign')),
    h('form', { class: 'filters', onsubmit: filter, 'aria-label': 'Filters' },
      field('Status', statusSel), field('Type', typeSel),
      h('button', { type: 'submit', class: 'btn' }, 'Apply filters'),
      button('Refresh', () => pages.again())),
    problem,
    h('div', { class: 'table-wrap' }, h('table', { class: 'campaigns' },
      h('caption', { class: 'sr-only' }, 'Campaigns, newest first'),
      thead(['Name', 'Type', 'Status', 'Starts', 'Progress', 'Actions']),
      body)),
    pages.el);
  pages.first();
}
