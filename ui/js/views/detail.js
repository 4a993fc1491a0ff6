// One campaign: live stats (a conditional GET at most once a second,
// stopped once the campaign is final), exactly the actions its status
// allows, its recipients, events and (a series) runs.
import { h, button, messageBox, say, put } from '../dom.js';
import { get, request } from '../api.js';
import { badge, timeEl, FINAL } from '../format.js';
import { whenPicker } from '../parts/when.js';
import { confirmDialog, dismissDialogs } from '../parts/confirm.js';
import { recipientsTable } from '../parts/recipients-table.js';
import { eventsList } from '../parts/events.js';
import { runsTable } from '../parts/runs.js';
import { statsPanel } from '../parts/stats.js';
import { go } from '../router.js';
import { take } from '../notice.js';

const POLL_MS = 1000;

// The actions the API allows in each status (docs/api.md, "Statuses and
// actions"); a series is never started or scheduled, it runs by itself.
function actionsFor(c) {
  const series = Boolean(c.recurrence);
  switch (c.status) {
    case 'draft': return ['start', 'schedule', 'edit', 'delete'];
    case 'scheduled': return series ? ['pause', 'edit', 'cancel']
      : ['start', 'reschedule', 'edit', 'cancel'];
    case 'queued': case 'running': return ['pause', 'cancel'];
    // a paused series may be edited (its future); a paused run may not
    case 'paused': return series ? ['resume', 'edit', 'cancel'] : ['resume', 'cancel'];
    default: return ['delete'];
  }
}

const LABELS = { start: 'Start now', schedule: 'Schedule', reschedule: 'Reschedule',
  pause: 'Pause', resume: 'Resume', cancel: 'Cancel', edit: 'Edit', delete: 'Delete' };

function windowText(w) {
  if (!w) return 'none (the type\'s default, if any)';
  return `${(w.days ?? ['every day']).join(', ')} ${w.from}–${w.to}${w.timezone ? ` (${w.timezone})` : ''}`;
}

export function detailView(outlet, { id }, query) {
  const path = `/campaigns/${encodeURIComponent(id)}`;
  let c = null;
  let etag = null;
  let timer = null;
  let stopped = false;
  let held = false;           // no refresh while the user confirms
  let acting = 0;             // actions on their way: no poll applies meanwhile
  let gen = 0;                // bumped as each ends: a poll asked before is stale
  let pollFailed = false;

  const problem = messageBox('error');
  const notice = messageBox('info');
  const title = h('h1', { tabindex: -1 }, 'Campaign');
  const head = h('div', { class: 'detail-head' });
  const meta = h('dl', { class: 'meta' });
  const stats = statsPanel();
  const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Actions' });
  const scheduleBox = h('div', { class: 'schedule-box' });
  const extra = h('div', { class: 'extra' });
  let recipients = null;
  let events = null;
  let runs = null;

  function showMeta() {
    put(head, title, badge(c.status));
    title.textContent = c.name;
    if (!stopped) document.title = `${c.name} · Campaigns`;
    const rows = [
      ['Type', c.type],
      ['Time zone', c.timezone],
      [c.recurrence ? 'Next run' : 'Starts', timeEl(c.recurrence ? c.next_run_at : c.scheduled_at)],
      c.recurrence ? ['Repeats', `${c.recurrence.cron} (${c.recurrence.timezone ?? c.timezone}), overlap: ${c.recurrence.overlap ?? 'skip'}`] : null,
      ['Send window', windowText(c.send_window)],
      c.local_time ? ['Local time of each recipient', c.local_time] : null,
      // a send window's opening, or the next wave of recipient-local times
      c.waiting_until ? ['Waiting until', timeEl(c.waiting_until)] : null,
      ['Started', timeEl(c.started_at)],
      ['Finished', timeEl(c.finished_at)],
      ['Created', [timeEl(c.created_at), ` by ${c.created_by ?? 'unknown'}`]],
      c.scheduled_by ? ['Last scheduled or started by', c.scheduled_by] : null,
      c.series_id ? ['Series', h('a', { href: `#/campaigns/${encodeURIComponent(c.series_id)}` }, 'Open the series')] : null,
      c.failure ? ['Failure', c.failure] : null,
      ['Message', h('span', { class: 'pre' }, c.message?.body ?? JSON.stringify(c.message))],
    ].filter(Boolean);
    put(meta, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  // Rebuilt only when the allowed actions change: a poll must not take
  // away the button a keyboard user is on.
  let shown = '';
  function showActions() {
    const allowed = actionsFor(c);
    if (allowed.join() === shown) return;
    shown = allowed.join();
    put(actions, allowed.map((a) => button(LABELS[a], () => act(a),
      { class: `btn ${a === 'cancel' || a === 'delete' ? 'danger' : a === 'start' ? 'primary' : ''}`,
        'data-action': a })));
  }

  function show() {
    showMeta();
    stats.show(c);
    showActions();
  }

  // the action buttons, off while one of them is asked (no double send)
  const busy = (on) => actions.querySelectorAll('button').forEach((b) => { b.disabled = on; });

  async function act(a) {
    say(problem);
    if (a === 'edit') return go(`${path}/edit`);
    if (a === 'schedule' || a === 'reschedule') return openSchedule();
    const sure = a === 'cancel' || a === 'delete';
    if (sure) {
      held = true;
      const what = a === 'cancel' ? 'Cancel this campaign?' : 'Delete this campaign?';
      const why = a === 'cancel' ? 'Recipients not sent yet will not be sent. This cannot be undone.'
        : 'It and its recipients are removed. This cannot be undone.';
      const ok = await confirmDialog(what, why, a === 'cancel' ? 'Cancel campaign' : 'Delete campaign');
      held = false;
      if (stopped) return null;
      if (!ok) return refresh();
    }
    acting++;
    busy(true);
    try {
      // Delete and start act on the version the user saw (If-Match); pause,
      // resume and cancel must not fail because a running campaign's stats
      // moved: the API's own transition rules guard those.
      if (a === 'delete') {
        await request('DELETE', path, { ifMatch: etag });
        return go('/campaigns');
      }
      const r = await request('POST', `${path}/${a}`,
        { body: {}, ifMatch: a === 'start' ? etag : undefined });
      update(r);
    } catch (err) {
      say(problem, err.message, err.status === 412 || err.status === 409
        ? h('p', {}, 'It changed since this page showed it: here it is as it is now.') : null);
      await refresh();
    } finally {
      acting--;
      gen++;
      busy(false);
    }
    return actions.querySelector('button')?.focus();
  }

  function openSchedule() {
    const picker = whenPicker({ zone: c.timezone, at: c.scheduled_at, legend: 'Start at' });
    const err = messageBox('error');
    const form = h('form', { class: 'card', novalidate: true }, picker.el, err,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'btn primary' }, c.scheduled_at ? 'Reschedule' : 'Schedule'),
        button('Close', () => { put(scheduleBox); actions.querySelector('button')?.focus(); })));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const at = picker.read();
      if (at.error) { say(err, at.error); at.focus?.focus(); return; }
      acting++;
      try {
        const r = await request('POST', `${path}/schedule`,
          { body: { scheduled_at: at.iso }, ifMatch: etag });
        put(scheduleBox);
        update(r);
        actions.querySelector('button')?.focus();   // the form had it
      } catch (e) {
        say(err, e.message);
        await refresh();
      } finally {
        acting--;
        gen++;
      }
    });
    put(scheduleBox, form);
    picker.focus();
  }

  function update({ status, data, etag: tag }) {
    if (status === 304 || !data) {
      if (c) stats.show(c);   // nothing sent since: the rate falls
      return;
    }
    const before = c;
    c = data;
    etag = tag;
    show();
    if (!before) return;
    const moved = before.status !== c.status;
    // a series makes runs while its status stays the same
    const ran = before.next_run_at !== c.next_run_at;
    if (moved) recipients?.refresh();
    if (moved || ran) {
      events?.refresh();
      runs?.refresh();
    }
  }

  function gone() {
    stopped = true;
    clearTimeout(timer);
    put(outlet, h('h1', { tabindex: -1 }, 'No such campaign'),
      h('p', {}, h('a', { href: '#/campaigns' }, 'Back to the list')));
    outlet.querySelector('h1').focus();
  }

  // resolves to the status of a failure (0: unreachable), else null
  async function refresh() {
    try {
      update(await get(path, {}));
      return null;
    } catch (err) {
      if (err.status === 404) gone();
      else say(problem, err.message);
      return err.status;
    }
  }

  async function poll() {
    if (stopped) return;
    if (!held && !FINAL.has(c?.status)) {
      const asked = gen;
      try {
        const r = await get(path, {}, { ifNoneMatch: etag });
        // a confirmation opened meanwhile acts on the version it showed,
        // and what an action answered is newer than this
        if (!held && !stopped && !acting && asked === gen) update(r);
        if (pollFailed) { pollFailed = false; say(problem); }
      } catch (err) {
        if (err.status === 404 && !acting) return gone();   // a Delete of ours goes to the list
        pollFailed = true;
        say(problem, err.message);
      }
    }
    // one request at a time, at most one a second; none once final
    if (!stopped && !FINAL.has(c?.status)) timer = setTimeout(poll, POLL_MS);
    return null;
  }

  say(notice, take(id));
  outlet.append(head, notice, problem, actions, scheduleBox,
    h('section', { class: 'card', 'aria-label': 'Progress' }, stats.el),
    h('section', { class: 'card', 'aria-label': 'Details' }, meta), extra);
  put(head, title);

  // the first read; one the server could not answer (unreachable, 5xx)
  // is tried again each second, a refusal is shown and left
  let tries = 0;
  async function first() {
    const failed = await refresh();
    tries++;
    if (stopped) return;
    if (!c) {
      if (failed === 0 || failed >= 500) timer = setTimeout(first, POLL_MS);
      return;
    }
    say(problem);
    recipients = recipientsTable(id);
    events = eventsList(id);
    extra.append(recipients.el);
    if (c.recurrence) {
      runs = runsTable(id);
      extra.append(runs.el);
    }
    extra.append(events.el);
    if (query.get('schedule') && actionsFor(c).some((a) => a.endsWith('schedule'))) openSchedule();
    // after retries the user may have moved on: take the focus only if lost
    else if (tries === 1 || document.activeElement === document.body) title.focus();
    timer = setTimeout(poll, POLL_MS);
  }
  first();

  return () => {
    stopped = true;
    clearTimeout(timer);
    dismissDialogs();           // a confirmation must not act on a page left
    document.title = 'Campaigns';
  };
}
