// A modal confirmation (<dialog>): resolves true only on the confirming
// button; Escape, "Keep" or dismissDialogs() (the page left) resolve
// false. Focus starts on the safe choice.
import { h } from '../dom.js';

const open = new Set();         // the finish() of each dialog showing

export function dismissDialogs() {
  for (const finish of [...open]) finish(false);
}

export function confirmDialog(title, text, yes) {
  return new Promise((resolve) => {
    const back = document.activeElement;
    const titleId = `dlg-${Date.now()}`;
    const keep = h('button', { type: 'button', class: 'btn', value: 'no' }, 'Keep it');
    const ok = h('button', { type: 'button', class: 'btn danger', value: 'yes' }, yes);
    const dlg = h('dialog', { 'aria-labelledby': titleId, class: 'confirm' },
      h('h2', { id: titleId }, title), h('p', {}, text),
      h('div', { class: 'actions' }, keep, ok));
    const finish = (answer) => {
      open.delete(finish);
      dlg.close();
      dlg.remove();
      back?.focus?.();
      resolve(answer);
    };
    keep.addEventListener('click', () => finish(false));
    ok.addEventListener('click', () => finish(true));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); finish(false); });
    open.add(finish);
    document.body.append(dlg);
    dlg.showModal();
    keep.focus();
  });
}
