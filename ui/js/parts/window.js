// The send-window editor: days, from and to (to may be next day), zone.
import { h, field } from '../dom.js';
import { zoneSelect } from './zone.js';

const DAYS = [['mon', 'Mon'], ['tue', 'Tue'], ['wed', 'Wed'], ['thu', 'Thu'],
  ['fri', 'Fri'], ['sat', 'Sat'], ['sun', 'Sun']];

export function windowEditor(value = null) {
  const on = h('input', { type: 'checkbox', checked: Boolean(value) });
  const days = DAYS.map(([d]) => h('input', { type: 'checkbox', value: d,
    checked: value?.days ? value.days.map((x) => x.toLowerCase()).includes(d) : d !== 'sat' && d !== 'sun' }));
  const from = h('input', { type: 'time', value: value?.from?.slice(0, 5) ?? '08:00' });
  const to = h('input', { type: 'time', value: value?.to?.slice(0, 5) ?? '20:00' });
  const tz = zoneSelect(value?.timezone ?? undefined);
  const inherit = h('input', { type: 'checkbox', checked: !value?.timezone });
  const body = h('div', { class: 'window-body', hidden: !value },
    h('fieldset', { class: 'days' }, h('legend', {}, 'Days'),
      DAYS.map(([, label], i) => h('label', { class: 'check' }, days[i], label))),
    h('div', { class: 'row' },
      field('From', from), field('To', to, 'A "to" not after "from" closes the next day.'),
      field('Zone of the window', tz)),
    h('label', { class: 'check' }, inherit, 'Use the campaign\'s time zone instead'));
  on.addEventListener('change', () => { body.hidden = !on.checked; });
  inherit.addEventListener('change', () => { tz.disabled = inherit.checked; });
  tz.disabled = inherit.checked;

  function read() {
    if (!on.checked) return { value: null };
    const picked = days.filter((d) => d.checked).map((d) => d.value);
    if (picked.length === 0) return { error: 'Pick at least one day for the send window.', focus: days[0] };
    if (!from.value || !to.value) return { error: 'Set when the send window opens and closes.', focus: from };
    const w = { days: picked, from: from.value, to: to.value === '00:00' ? '24:00' : to.value };
    if (!inherit.checked) w.timezone = tz.value;
    return { value: w };
  }

  const el = h('fieldset', { class: 'send-window' }, h('legend', {}, 'Send window'),
    h('label', { class: 'check' }, on, 'Send only within a window'), body);
  return { el, read };
}
