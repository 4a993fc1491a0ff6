// How values look: times in the viewer's zone (UTC on hover), status
// badges, progress.
import { h } from './dom.js';

export const FINAL = new Set(['completed', 'cancelled', 'failed']);
export const STATUSES = ['draft', 'scheduled', 'queued', 'running', 'paused',
  'completed', 'cancelled', 'failed'];

const local = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium', timeStyle: 'medium',
});
// with the weekday, where the day matters (a recurrence's occurrences)
const withDay = new Intl.DateTimeFormat(undefined, {
  weekday: 'short', year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
});

export function utcText(iso) {
  return `${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')} UTC`;
}

// <time> in the viewer's zone; the UTC instant in its title (hover)
export function timeEl(iso, empty = '—', { weekday = false } = {}) {
  if (!iso) return h('span', { class: 'muted' }, empty);
  return h('time', { datetime: iso, title: utcText(iso) },
    (weekday ? withDay : local).format(new Date(iso)));
}

// The status as a word, in its own colour (the word carries the meaning)
export function badge(status) {
  return h('span', { class: `badge badge-${status}` }, status);
}

export function done(stats) {
  return (stats?.sent ?? 0) + (stats?.failed ?? 0) + (stats?.cancelled ?? 0);
}

function percent(stats) {
  const total = stats?.total ?? 0;
  return total ? Math.floor((done(stats) * 100) / total) : 0;
}

// A <progress> of recipients done, with a label a screen reader reads
export function progress(stats, name = 'Progress') {
  const total = stats?.total ?? 0;
  const text = `${done(stats)} / ${total} (${percent(stats)} %)`;
  return h('div', { class: 'progress' },
    h('progress', { max: Math.max(total, 1), value: total ? done(stats) : 0,
      'aria-label': `${name}: ${text}` }),
    h('span', { class: 'progress-text' }, text));
}

export function relative(iso) {
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}
