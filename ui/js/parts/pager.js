// Cursor paging for a table: "Previous" walks back the cursors seen.
import { h, button } from '../dom.js';

export function pager(load) {
  const trail = [];
  let cursor = null;
  let next = null;
  const prevBtn = button('Previous page', () => { cursor = trail.pop() ?? null; go(); });
  const nextBtn = button('Next page', () => { trail.push(cursor); cursor = next; go(); });
  async function go() {
    next = await load(cursor);
    prevBtn.disabled = trail.length === 0;
    nextBtn.disabled = !next;
  }
  return {
    el: h('div', { class: 'pager' }, prevBtn, nextBtn),
    first() { trail.length = 0; cursor = null; return go(); },
    again: () => go(),
  };
}
