// Edit a draft or scheduled campaign, or a paused series (PATCH, If-Match:
// the version shown; a 412 says someone changed it meanwhile and the form
// is reloaded; a 409, that it can no longer be edited, leads back to its
// page). Only what the user changed is sent: a recurrence sent cancels the
// series' runs made ahead, a window sent replaces the old.
import { h, field, button, messageBox, say } from '../dom.js';
import { get, request } from '../api.js';
import { zoneSelect } from '../parts/zone.js';
import { windowEditor } from '../parts/window.js';
import { recurrenceEditor } from '../parts/recurrence.js';
import { localTimeField } from '../parts/local-time.js';
import { go } from '../router.js';
import { leave } from '../notice.js';

// what may be edited: a draft, a scheduled campaign or series, a paused
// series (its future); the API refuses the rest with a 409
const editable = (c) => c.status === 'draft' || c.status === 'scheduled'
  || (c.status === 'paused' && Boolean(c.recurrence));

export function editView(outlet, { id }) {
  const path = `/campaigns/${encodeURIComponent(id)}`;
  const problem = messageBox('error');
  outlet.append(h('h1', { tabindex: -1 }, 'Edit campaign'), problem);
  const back = () => h('a', { class: 'btn', href: `#${path}` }, 'Back');

  async function load() {
    let r;
    try {
      r = await get(path);
    } catch (err) {
      say(problem, err.message);
      outlet.append(back());
      return;
    }
    const c = r.data;
    if (!editable(c)) {
      say(problem, `A ${c.status} campaign cannot be edited.`);
      outlet.append(back());
      return;
    }
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
      if (Object.keys(patch).length === 0) { go(path); return; }
      submit.disabled = true;   // one PATCH per version
      try {
        await request('PATCH', path, { body: patch, ifMatch: r.etag });
        go(path);
      } catch (err) {
        if (err.status === 409) {
          leave(`Not saved: ${err.message}`, id);
          go(path);
          return;
        }
        say(problem, `${err.message}${err.field ? ` (${err.field})` : ''}`);
        if (err.status === 412) {
          form.remove();
          await load();
          outlet.querySelector('h1').focus();
        }
      } finally {
        submit.disabled = false;
        if (document.activeElement === document.body) submit.focus();   // dropped when disabled
      }
    }
    const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Save');
    const form = h('form', { class: 'create', novalidate: true, onsubmit: save },
      h('div', { class: 'row' }, field('Name', name), field('Time zone', zone)),
      field('Message', body),
      rec?.el, win.el, local.el,
      h('div', { class: 'actions' }, submit, back()));
    outlet.append(form);
    rec?.refresh();
  }
  load();
}
