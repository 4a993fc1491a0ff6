// Edit a draft or scheduled campaign, or a paused series (PATCH, If-Match:
// the version shown; a 412 says someone changed it meanwhile and the form
// is reloaded). Only what the user changed is sent: a recurrence sent
// cancels the series' runs made ahead, a window sent replaces the old.
import { h, field, button, messageBox, say } from '../dom.js';
import { get, request } from '../api.js';
import { zoneSelect } from '../parts/zone.js';
import { windowEditor } from '../parts/window.js';
import { recurrenceEditor } from '../parts/recurrence.js';
import { localTimeField } from '../parts/local-time.js';
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
    const zoneShown = zone.value;
    const win = windowEditor(c.send_window);
    const local = localTimeField(c.local_time);
    const rec = c.recurrence ? recurrenceEditor({ value: c.recurrence, zone: c.timezone }) : null;

    async function save(ev) {
      ev.preventDefault();
      say(problem);
      if (!name.value.trim()) { say(problem, 'Give the campaign a name.'); name.focus(); return; }
      const w = win.read();
      if (w.error) { say(problem, w.error); w.focus?.focus(); return; }
      const patch = {};
      if (name.value.trim() !== c.name) patch.name = name.value.trim();
      if (body.value !== (c.message?.body ?? '')) patch.message = { ...c.message, body: body.value };
      if (zone.value !== zoneShown) patch.timezone = zone.value;
      if (w.changed) patch.send_window = w.value;
      const lt = local.read();
      if (lt.changed) patch.local_time = lt.value;
      if (rec) {
        const rr = rec.read();
        if (rr.error) { say(problem, rr.error); rr.focus?.focus(); return; }
        if (rr.changed) patch.recurrence = rr.value;
      }
      if (Object.keys(patch).length === 0) { go(`/campaigns/${id}`); return; }
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
      rec?.el, win.el, local.el,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'btn primary' }, 'Save'),
        h('a', { class: 'btn', href: `#/campaigns/${encodeURIComponent(id)}` }, 'Back')));
    outlet.append(form);
    rec?.refresh();
  }
  load();
}
