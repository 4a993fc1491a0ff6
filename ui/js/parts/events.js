// A campaign's audit trail, oldest first, as a timeline.
import { h, button, messageBox, say } from '../dom.js';
import { get } from '../api.js';
import { timeEl } from '../format.js';

function detailText(detail) {
  if (!detail || typeof detail !== 'object' || !Object.keys(detail).length) return '';
  return Object.entries(detail).map(([k, v]) =>
    `${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : v}`).join(', ');
}

export function eventsList(id) {
  const list = h('ol', { class: 'timeline' });
  const problem = messageBox('error');
  let cursor = null;
  const more = button('Load more events', () => load(false));
  more.hidden = true;

  async function load(fromStart) {
    try {
      if (fromStart) cursor = null;
      const { data } = await get(`/campaigns/${encodeURIComponent(id)}/events`, { limit: 100, cursor });
      if (fromStart) list.replaceChildren();
      list.append(...data.data.map((e) => h('li', {},
        timeEl(e.at), ' ',
        h('strong', {}, e.action),
        e.from_status || e.to_status
          ? h('span', { class: 'transition' }, ` ${e.from_status ?? '∅'} → ${e.to_status ?? '∅'}`) : null,
        h('span', { class: 'actor' }, ` by ${e.actor}`),
        detailText(e.detail) ? h('div', { class: 'detail' }, detailText(e.detail)) : null)));
      cursor = data.next_cursor;
      more.hidden = !cursor;
      say(problem);
    } catch (err) {
      say(problem, err.message);
    }
  }
  const el = h('section', { class: 'card', 'aria-labelledby': 'events-h' },
    h('h2', { id: 'events-h' }, 'Events'), problem, list, more);
  load(true);
  return { el, refresh: () => load(true) };
}
