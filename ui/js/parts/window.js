// The send-window editor: days, from and to (to may be next day), zone.
// read() tells whether the user changed anything, so an edit that leaves
// the window alone does not send it back in another form.
import { h, field } from '../dom.js';
import { zoneSelect } from './zone.js';
import { timeInput } from './time-input.js';

const DAYS = [['mon', 'Mon'], ['tue', 'Tue'], ['wed', 'Wed'], ['thu', 'Thu'],
  ['fri', 'Fri'], ['sat', 'Sat'], ['sun', 'Sun']];

function dayOn(value, d) {
  if (!value) return d !== 'sat' && d !== 'sun';
  // a window without days opens on all seven
  return !value.days || value.days.map((x) => x.toLowerCase()).includes(d);
}

export function windowEditor(value = null) {
  const on = h('input', { type: 'checkbox', checked: Boolean(value) });
  const days = DAYS.map(([d]) => h('input', { type: 'checkbox', value: d, checked: dayOn(value, d) }));
  const from = timeInput(value?.from ?? '08:00');
  const to = timeInput(value?.to ?? '20:00');
  const tz = zoneSelect(value?.timezone ?? undefined);
  const inherit = h('input', { type: 'checkbox', checked: !value?.timezone });
  const body = h('div', { class: 'window-body', hidden: !value },
    h('fieldset', { class: 'days' }, h('legend', {}, 'Days'),
      DAYS.map(([, label], i) => h('label', { class: 'check' }, days[i], label))),
    h('div', { class: 'row' },
      field('From', from.el), field('To', to.el, 'A "to" not after "from" closes the next day: 00:00 is the end of the day (24:00).'),
      field('Zone of the window', tz)),
    h('label', { class: 'check' }, inherit, 'Use the campaign\'s time zone instead'));
  on.addEventListener('change', () => { body.hidden = !on.checked; });
  inherit.addEventListener('change', () => { tz.disabled = inherit.checked; });
  tz.disabled = inherit.checked;

  const state = () => JSON.stringify([on.checked, days.map((d) => d.checked),
    from.el.value, to.el.value, inherit.checked, inherit.checked || tz.value]);
  const initial = state();

  // {value, changed} or {error, focus}
  function read() {
    const changed = state() !== initial;
    if (!on.checked) return { value: null, changed };
    const picked = days.filter((d) => d.checked).map((d) => d.value);
    if (picked.length === 0) return { error: 'Pick at least one day for the send window.', focus: days[0] };
    if (!from.el.value || !to.el.value) return { error: 'Set when the send window opens and closes.', focus: from.el };
    const w = { days: picked, from: from.read(), to: to.read() };
    if (!inherit.checked) w.timezone = tz.value;
    return { value: w, changed };
  }

  const el = h('fieldset', { class: 'send-window' }, h('legend', {}, 'Send window'),
    h('label', { class: 'check' }, on, 'Send only within a window'), body);
  return { el, read };
}
