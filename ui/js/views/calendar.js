// Month and week views of what starts when (GET /v1/calendar), in the
// viewer's zone; an entry links to its campaign (a series' occurrence to
// the series).
import { h, button, messageBox, say, thead } from '../dom.js';
import { get } from '../api.js';
import { go } from '../router.js';
import { utcText } from '../format.js';

const DAY_MS = 86400000;
const MAX_RANGE_MS = 31 * DAY_MS;       // the API's limit for one request
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

const pad = (n) => String(n).padStart(2, '0');
const dayKey = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const addDays = (d, n) => new Date(d.getFullYear(), d.getMonth(), d.getDate() + n);
const monday = (d) => addDays(d, -((d.getDay() + 6) % 7));
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const monthName = new Intl.DateTimeFormat(undefined, { month: 'long', year: 'numeric' });
const dayName = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long' });

function parseDay(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s ?? '');
  return m ? new Date(+m[1], +m[2] - 1, +m[3]) : new Date();
}

// every entry in [from, to), in requests of at most 31 days each
async function entries(from, to) {
  const all = [];
  let truncated = false;
  for (let a = from.getTime(); a < to.getTime(); a += MAX_RANGE_MS) {
    const b = Math.min(a + MAX_RANGE_MS, to.getTime());
    const { data } = await get('/calendar', { from: new Date(a).toISOString(), to: new Date(b).toISOString() });
    all.push(...data.data);
    truncated ||= data.truncated;
  }
  return { all, truncated };
}

function entryLink(e) {
  return h('a', { class: `entry status-${e.status} kind-${e.kind}`,
    href: `#/campaigns/${encodeURIComponent(e.campaign_id)}`,
    title: `${utcText(e.at)} · ${e.status}${e.kind === 'occurrence' ? ' · next occurrence' : ''}` },
  h('span', { class: 'entry-time' }, clock.format(new Date(e.at))), ' ',
  h('span', { class: 'entry-name' }, e.name),
  h('span', { class: 'sr-only' }, ` (${e.kind === 'occurrence' ? 'occurrence, ' : ''}${e.status})`));
}

export function calendarView(outlet, _params, query) {
  const view = query.get('view') === 'week' ? 'week' : 'month';
  const anchor = parseDay(query.get('date'));
  const problem = messageBox('error');
  const note = h('p', { class: 'muted', role: 'status' });

  let from;
  let to;
  let heading;
  if (view === 'month') {
    const first = new Date(anchor.getFullYear(), anchor.getMonth(), 1);
    from = monday(first);
    to = addDays(from, 42);
    heading = monthName.format(first);
  } else {
    from = monday(anchor);
    to = addDays(from, 7);
    heading = `Week of ${dayName.format(from)}`;
  }
  const step = (n) => {
    const d = view === 'month' ? new Date(anchor.getFullYear(), anchor.getMonth() + n, 1)
      : addDays(anchor, 7 * n);
    go(`/calendar?view=${view}&date=${dayKey(d)}`);
  };
  const switchTo = (v) => go(`/calendar?view=${v}&date=${dayKey(anchor)}`);

  const cells = new Map();
  const rows = [];
  for (let w = 0; w < (view === 'month' ? 6 : 1); w++) {
    rows.push(h('tr', {}, WEEKDAYS.map((_, i) => {
      const d = addDays(from, w * 7 + i);
      const list = h('ul', { class: 'entries' });
      cells.set(dayKey(d), list);
      const other = view === 'month' && d.getMonth() !== anchor.getMonth();
      const today = dayKey(d) === dayKey(new Date());
      return h('td', { class: `${other ? 'other' : ''} ${today ? 'today' : ''}`, 'data-day': dayKey(d) },
        h('span', { class: 'day-number' }, view === 'month' ? String(d.getDate()) : dayName.format(d)),
        list);
    })));
  }

  outlet.append(
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, `Calendar: ${heading}`)),
    h('div', { class: 'filters' },
      button('Previous', () => step(-1)),
      button('Today', () => go(`/calendar?view=${view}`)),
      button('Next', () => step(1)),
      h('div', { class: 'segmented', role: 'group', 'aria-label': 'View' },
        button('Month', () => switchTo('month'), { 'aria-pressed': String(view === 'month') }),
        button('Week', () => switchTo('week'), { 'aria-pressed': String(view === 'week') }))),
    problem, note,
    h('div', { class: 'table-wrap' }, h('table', { class: `calendar ${view}` },
      h('caption', { class: 'sr-only' }, `Campaign starts, ${heading}`),
      thead(WEEKDAYS),
      h('tbody', {}, rows))));

  entries(from, to).then(({ all, truncated }) => {
    for (const e of all) cells.get(dayKey(new Date(e.at)))?.append(h('li', {}, entryLink(e)));
    note.textContent = truncated ? 'More starts than can be shown: only the first 10,000.'
      : `${all.length} start${all.length === 1 ? '' : 's'} in view.`;
  }).catch((err) => say(problem, err.message));
}
