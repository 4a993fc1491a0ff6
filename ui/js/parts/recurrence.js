// The recurrence editor: presets or a cron expression, its zone and
// overlap policy, and the next five occurrences the API computes
// (GET /v1/recurrence/preview), so the user sees what the cron means.
// The API replaces a recurrence whole and cancels the runs made ahead when
// one is sent: read() keeps the fields not shown here (starts_at, ends_at,
// catch_up) and says whether the user changed anything.
import { h, field, select, say, messageBox } from '../dom.js';
import { get } from '../api.js';
import { timeEl } from '../format.js';
import { browserZone } from '../tz.js';
import { zoneSelect } from './zone.js';

const PRESETS = [
  ['0 * * * *', 'Every hour, on the hour'],
  ['0 9 * * *', 'Every day at 09:00'],
  ['0 9 * * MON-FRI', 'Weekdays at 09:00'],
  ['0 9 * * MON', 'Every Monday at 09:00'],
  ['0 9 1 * *', 'The first of each month at 09:00'],
  ['', 'Custom (cron expression)'],
];

export function recurrenceEditor({ value = null, zone = browserZone() } = {}) {
  const preset = select(PRESETS, PRESETS.some(([c]) => c && c === value?.cron) ? value.cron
    : value ? '' : PRESETS[1][0]);
  const cron = h('input', { type: 'text', value: value?.cron ?? PRESETS[1][0],
    spellcheck: 'false', autocomplete: 'off', class: 'mono' });
  const tz = zoneSelect(value?.timezone ?? zone);
  const overlap = select([['skip', 'Skip it'], ['queue', 'Queue it'],
    ['replace', 'Cancel the active run and start it']], value?.overlap ?? 'skip');
  const maxRuns = h('input', { type: 'number', min: 1, step: 1, inputmode: 'numeric',
    value: value?.max_runs ?? '' });
  const list = h('ol', { class: 'occurrences', 'aria-live': 'polite' });
  const problem = messageBox('error');

  let timer = null;
  let asked = 0;
  async function preview() {
    const mine = ++asked;
    try {
      const { data } = await get('/recurrence/preview',
        { cron: cron.value.trim(), timezone: tz.value, count: 5 });
      if (mine !== asked) return;
      say(problem);
      list.replaceChildren(...data.occurrences.map((at) => h('li', {}, timeEl(at, '', { weekday: true }))));
    } catch (err) {
      if (mine !== asked) return;
      list.replaceChildren();
      say(problem, err.status === 404 ? 'No preview: this server does not offer one.' : err.message);
    }
  }
  function later() {
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  }
  preset.addEventListener('change', () => {
    if (preset.value) cron.value = preset.value;
    else cron.focus();
    later();
  });
  cron.addEventListener('input', () => {
    preset.value = PRESETS.some(([c]) => c === cron.value.trim()) ? cron.value.trim() : '';
    later();
  });
  tz.addEventListener('input', later);

  const state = () => JSON.stringify([cron.value.trim(), tz.value, overlap.value, maxRuns.value]);
  const initial = state();

  // {value, changed} or {error, focus}
  function read() {
    if (!cron.value.trim()) return { error: 'Give a cron expression.', focus: cron };
    const r = { ...(value ?? {}), cron: cron.value.trim(), timezone: tz.value,
      overlap: overlap.value, max_runs: maxRuns.value ? Number(maxRuns.value) : null };
    if (!value && r.max_runs === null) delete r.max_runs;
    return { value: r, changed: state() !== initial };
  }

  const el = h('fieldset', { class: 'recurrence' },
    h('legend', {}, 'Repeat'),
    h('div', { class: 'row' },
      field('Preset', preset),
      field('Cron expression', cron, 'minute hour day-of-month month day-of-week, e.g. 0 9 * * MON-FRI'),
      field('Time zone of the schedule', tz)),
    h('div', { class: 'row' },
      field('When a run is still active', overlap),
      field('At most this many runs (optional)', maxRuns)),
    h('h3', {}, 'Next five occurrences'), list, problem);
  return { el, read, refresh: preview };
}
