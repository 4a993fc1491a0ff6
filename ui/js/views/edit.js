// Edit a draft or scheduled campaign (PATCH, If-Match: the version shown;
// a 412 says someone changed it meanwhile and the form is reloaded).
import { h, field, button, messageBox, say } from '../dom.js';
import { get, request } from '../api.js';
import { zoneSelect } from '../parts/zone.js';
import { windowEditor } from '../parts/window.js';
import { recurrenceEditor } from '../parts/recurrence.js';
import { go } from '../router.js';

export function editView(outlet, { id }) {
  const problem = messageBox('error');
  outlet.append(h('h1', { tabindex: -1 }, 'Edit campaign'), problem);

  async function load() {
    let r;
    try {
      r = await get(`/campaigns/${id}`);
    } catch (err) {
      say(problem, err.message);
      return;
    }
    const c = r.data;
    const name = h('input', { type: 'text', maxlength: 200, value: c.name, autocomplete: 'off' });
    const body = h('textarea', { rows: 4 });
    body.value = c.message?.body ?? '';
    const zone = zoneSelect(c.timezone);
    const win = windowEditor(c.send_window);
    const rec = c.recurrence ? recurrenceEditor({ value: c.recurrence, zone: c.timezone }) : null;

    async function save(ev) {
      ev.preventDefault();
      say(problem);
      if (!name.value.trim()) { say(problem, 'Give the campaign a name.'); name.focus(); return; }
      const w = win.read();
      if (w.error) { say(problem, w.error); w.focus?.focus(); return; }
      const patch = { name: name.value.trim(), message: { ...c.message, body: body.value },
        timezone: zone.value, send_window: w.value };
      if (rec) {
        const rr = rec.read();
        if (rr.error) { say(problem, rr.error); rr.focus?.focus(); return; }
        patch.recurrence = rr.value;
      }
      try {
        await request('PATCH', `/campaigns/${id}`, { body: patch, ifMatch: r.etag });
        go(`/campaigns/${id}`);
      } catch (err) {
        say(problem, `${err.message}${err.field ? ` (${err.field})` : ''}`);
        if (err.status === 412 || err.status === 409) {
          form.remove();
          load();
        }
      }
    }
    const form = h('form', { class: 'create', novalidate: true, onsubmit: save },
      h('div', { class: 'row' }, field('Name', name), field('Time zone', zone)),
      field('Message', body),
      rec?.el, win.el,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'btn primary' }, 'Save'),
        h('a', { class: 'btn', href: `#/campaigns/${encodeURIComponent(id)}` }, 'Back')));
    outlet.append(form);
    rec?.refresh();
  }
  load();
}
