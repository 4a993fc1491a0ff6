// A date and time picker in the browser's zone or a chosen IANA zone,
// showing the UTC instant it means; read() validates as the API will:
// both set, not more than 5 s in the past, not a time the clocks skip.
import { h, field } from '../dom.js';
import { browserZone, toInstant, wallClock } from '../tz.js';
import { utcText } from '../format.js';
import { zoneSelect } from './zone.js';

const PAST_SLACK_MS = 5000;

export function whenPicker({ zone = browserZone(), at = null, legend = 'Date and time' } = {}) {
  const start = at ? wallClock(Date.parse(at), zone) : null;
  const date = h('input', { type: 'date', required: true, value: start?.date ?? '' });
  const time = h('input', { type: 'time', step: 1, required: true, value: start?.time ?? '' });
  const tz = zoneSelect(zone);
  const out = h('output', { class: 'instant', 'aria-live': 'polite' });

  function read() {
    if (!date.value || !time.value) {
      return { error: 'Set both the date and the time.', focus: date.value ? time : date };
    }
    const r = toInstant(date.value, time.value, tz.value);
    if (r.gap) {
      return { error: `${date.value} ${time.value} does not exist in ${tz.value}: the clocks skip it.`, focus: time };
    }
    if (r.ms < Date.now() - PAST_SLACK_MS) {
      return { error: 'That time is in the past.', focus: time };
    }
    const iso = new Date(r.ms).toISOString();
    return { iso, zone: tz.value };
  }

  function show() {
    if (!date.value || !time.value) { out.value = ''; return; }
    const r = toInstant(date.value, time.value, tz.value);
    out.value = r.gap ? 'This time does not exist in that zone (the clocks skip it).'
      : `That is ${utcText(new Date(r.ms).toISOString())}.`;
  }
  for (const el of [date, time, tz]) el.addEventListener('input', show);
  show();

  const el = h('fieldset', { class: 'when' },
    h('legend', {}, legend),
    h('div', { class: 'row' },
      field('Date', date), field('Time', time), field('Time zone', tz)),
    out);
  return { el, read, zone: () => tz.value, focus: () => date.focus() };
}
