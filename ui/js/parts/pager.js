// Cursor paging for a table: "Previous" walks back the cursors seen.
// load(cursor, isLatest) draws a page and resolves to the next cursor; it
// draws nothing once isLatest() is false (a newer load was asked: a
// filter changed), so a slow answer never shows under a newer choice.
import { h, button } from '../dom.js';

export function pager(load) {
  const trail = [];
  let cursor = null;
  let next = null;
  let asked = 0;
  const prevBtn = button('Previous page', () => { cursor = trail.pop() ?? null; go(); });
  const nextBtn = button('Next page', () => { trail.push(cursor); cursor = next; go(); });
  async function go() {
    const mine = ++asked;
    const latest = () => mine === asked;
    const had = [prevBtn, nextBtn].find((b) => b === document.activeElement);
    prevBtn.disabled = true;    // one page at a time: no cursor pushed twice
    nextBtn.disabled = true;
    const n = await load(cursor, latest);
    if (!latest()) return;
    next = n;
    prevBtn.disabled = trail.length === 0;
    nextBtn.disabled = !next;
    // a disabled button drops the focus: give it back, to the other if
    // this one is now off (the last page)
    if (had && document.activeElement === document.body) {
      [had, prevBtn, nextBtn].find((b) => !b.disabled)?.focus();
    }
  }
  return {
    el: h('div', { class: 'pager' }, prevBtn, nextBtn),
    first() { trail.length = 0; cursor = null; return go(); },
    again: () => go(),
  };
}
