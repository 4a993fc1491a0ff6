// A modal confirmation (<dialog>): resolves true only on the confirming
// button; Escape or "Keep" resolve false. Focus starts on the safe choice.
import { h } from '../dom.js';

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
      dlg.close();
      dlg.remove();
      back?.focus?.();
      resolve(answer);
    };
    keep.addEventListener('click', () => finish(false));
    ok.addEventListener('click', () => finish(true));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); finish(false); });
    document.body.append(dlg);
    dlg.showModal();
    keep.focus();
  });
}
