// Create a campaign: name, type, message with a live preview for the first
// recipient, recipients pasted or uploaded (CSV or JSON, with upload
// progress), when it runs (draft, now, later in a zone, or a recurrence)
// and an optional send window. Validated here first; the API's own
// refusal is shown as it says it.
import { h, field, messageBox, say } from '../dom.js';
import { post, request, types } from '../api.js';
import { render } from '../template.js';
import { firstRecipient } from '../recipients.js';
import { browserZone } from '../tz.js';
import { whenPicker } from '../parts/when.js';
import { recurrenceEditor } from '../parts/recurrence.js';
import { windowEditor } from '../parts/window.js';
import { recipientsInput } from '../parts/recipients-input.js';
import { localTimeField } from '../parts/local-time.js';
import { go } from '../router.js';
import { leave } from '../notice.js';

const WHEN = [
  ['draft', 'Save as draft'],
  ['now', 'Run immediately'],
  ['later', 'Schedule for later'],
  ['repeat', 'Repeat on a schedule'],
];
const SUBMIT = { draft: 'Save draft', now: 'Create and start', later: 'Create and schedule',
  repeat: 'Create series' };

export function createView(outlet) {
  const problem = messageBox('error');
  const name = h('input', { type: 'text', required: true, maxlength: 200, autocomplete: 'off' });
  const type = h('select', {});
  types().then((list) => type.replaceChildren(...list.map((t) =>
    h('option', { value: t, selected: t === 'sms' }, t))));
  const bodyText = h('textarea', { rows: 4, required: true });
  bodyText.value = 'Hi {{name}}, ';

  let recipients = { text: '', kind: 'csv' };
  const input = recipientsInput((value) => { recipients = value; showPreview(); });

  const previewTo = h('p', { class: 'hint' });
  const preview = h('output', { class: 'preview', 'aria-live': 'polite' });
  function showPreview() {
    const first = firstRecipient(recipients.text, recipients.kind);
    previewTo.textContent = first ? `As the first recipient (${first.to}) will get it:`
      : 'No recipient yet: as a recipient without vars gets it:';
    preview.value = render(bodyText.value, first?.to ?? '', first?.vars ?? {});
  }
  bodyText.addEventListener('input', showPreview);

  // when
  const radios = WHEN.map(([v, label]) => h('label', { class: 'check' },
    h('input', { type: 'radio', name: 'when', value: v, checked: v === 'draft' }), label));
  const picker = whenPicker({ legend: 'Start at' });
  const recurrence = recurrenceEditor();
  const sendWindow = windowEditor();
  const localTime = localTimeField();
  const submit = h('button', { type: 'submit', class: 'btn primary' }, SUBMIT.draft);
  const when = () => outlet.querySelector('input[name=when]:checked')?.value ?? 'draft';
  function whenChanged() {
    picker.el.hidden = when() !== 'later';
    recurrence.el.hidden = when() !== 'repeat';
    if (when() === 'repeat') recurrence.refresh();
    submit.textContent = SUBMIT[when()];
  }
  radios.forEach((r) => r.firstChild.addEventListener('change', whenChanged));

  // what the form asks for, or the first problem (and where to go)
  function collect() {
    if (!name.value.trim()) return { error: 'Give the campaign a name.', focus: name };
    if (!bodyText.value) return { error: 'Write the message.', focus: bodyText };
    const w = sendWindow.read();
    if (w.error) return w;
    const body = { name: name.value.trim(), type: type.value, message: { body: bodyText.value },
      timezone: browserZone() };
    if (w.value) body.send_window = w.value;
    const lt = localTime.read().value;
    if (lt) body.local_time = lt;
    let at = null;
    let series = null;
    if (when() === 'later') {
      at = picker.read();
      if (at.error) return at;
      body.timezone = at.zone;
    } else if (when() === 'repeat') {
      const r = recurrence.read();
      if (r.error) return r;
      series = r.value;
      body.timezone = r.value.timezone;
    }
    return { body, at, series };
  }

  // where to take the user when the API names a field
  const FIELDS = { name, type, message: bodyText, recipients: input, scheduled_at: picker.el,
    timezone: picker.el, recurrence: recurrence.el, send_window: sendWindow.el,
    local_time: localTime.el };
  function refuse(err) {
    const where = err.field ? ` (${err.field})` : '';
    say(problem, `${err.message}${where}`);
    const target = FIELDS[err.field?.split('.')[0]];
    (target?.querySelector?.('input, select') ?? target ?? problem).focus?.();
  }

  // A created draft is kept: a second try (say, after a bad row) reuses it.
  // A series is made a draft first and given its recurrence only once its
  // recipients are in: a run made ahead (5 s before its occurrence) copies
  // the recipients the series has then.
  let draft = null;
  const idem = crypto.randomUUID();

  async function send(ev) {
    ev.preventDefault();
    say(problem);
    const c = collect();
    if (c.error) {
      say(problem, c.error);
      c.focus?.focus();
      return;
    }
    submit.disabled = true;
    leave(null);
    try {
      if (!draft) {
        const { data } = await request('POST', '/campaigns', { body: c.body,
          headers: { 'Idempotency-Key': idem } });
        draft = data;
      } else {
        // the form as it is now: a window or local time taken away goes too
        const { type: _type, ...edit } = c.body;
        const { data } = await request('PATCH', `/campaigns/${draft.id}`,
          { body: { send_window: null, local_time: null, ...edit } });
        draft = data;
      }
      if (input.has()) leave(await input.send(draft.id), draft.id);
      if (c.series) {
        await request('PATCH', `/campaigns/${draft.id}`, { body: { recurrence: c.series } });
      }
      if (when() === 'now') await post(`/campaigns/${draft.id}/start`, {});
      if (when() === 'later') {
        // the instant the picker showed (its zone is now the campaign's)
        await post(`/campaigns/${draft.id}/schedule`, { scheduled_at: c.at.iso });
      }
      go(`/campaigns/${draft.id}`);
    } catch (err) {
      refuse(err);
      if (draft) {
        problem.append(h('p', {}, 'The campaign was saved as a draft; sending again carries on with it. ',
          h('a', { href: `#/campaigns/${draft.id}` }, 'Open the draft')));
      }
    } finally {
      submit.disabled = false;
    }
  }

  const form = h('form', { class: 'create', novalidate: true, onsubmit: send },
    problem,
    h('div', { class: 'row' },
      field('Name', name), field('Type', type)),
    h('div', { class: 'row two' },
      field('Message', bodyText, 'Placeholders like {{name}} are filled from each recipient\'s vars; {{to}} is the address.'),
      h('div', { class: 'field' }, h('span', { class: 'label' }, 'Preview'), previewTo, preview)),
    input.el,
    h('fieldset', { class: 'when-choice' }, h('legend', {}, 'When'), radios),
    picker.el, recurrence.el,
    sendWindow.el, localTime.el,
    h('div', { class: 'actions' }, submit, h('a', { class: 'btn', href: '#/campaigns' }, 'Back to the list')));

  outlet.append(h('h1', { tabindex: -1 }, 'New campaign'), form);
  whenChanged();
  showPreview();
}
