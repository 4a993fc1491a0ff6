#!/usr/bin/python3
"""The console's journeys in a real headless Chromium (t/31-console.t).

Reads CONSOLE_URL (the page), CONSOLE_KEY (an API key), CONSOLE_OUT (a
folder: results.json and the screenshots), CONSOLE_AXE (axe.min.js).
Each journey is a list of checks written to results.json (after each
journey, so a timeout keeps the rest), which the .t turns into TAP;
progress goes to stderr. The .t starts the scheduler when this asks for it
(release_scheduler()).
"""
import json
import os
import signal
import sys
import tempfile
import time
import traceback
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, StaleElementReferenceException,
                                        TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ['CONSOLE_URL'].rstrip('/')
KEY = os.environ['CONSOLE_KEY']
OUT = os.environ['CONSOLE_OUT']
SHOTS = os.environ.get('CONSOLE_SCREENSHOTS') or OUT
AXE = os.environ['CONSOLE_AXE']
HOSTILE = '<img src=x onerror=alert(1)>'
PURPLE = (109, 40, 217)             # --scheduled in ui/css/app.css
VIEWER = ZoneInfo(os.environ.get('TZ') or 'UTC')    # the browser's zone

results = []
data = {}                           # what the .t checks in the database


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def check(name, ok, diag=''):
    results.append({'name': name, 'ok': bool(ok), 'diag': '' if ok else str(diag)})
    log(('ok   ' if ok else 'FAIL ') + name + ('' if ok else f'  ({diag})'))
    return ok


# ------------------------------------------------------------- the API

def api(method, path, body=None, headers=None):
    req = urllib.request.Request(URL + '/v1' + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header('Authorization', 'Bearer ' + KEY)
    if body is not None:
        req.add_header('Content-Type', 'application/json')
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
            return r.status, (json.loads(text) if text else None), r.headers
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, (json.loads(text) if text else None), e.headers


def create(name, n=0, **extra):
    body = {'name': name, 'type': 'sms', 'message': {'body': 'Hi {{name}}'},
            'recipients': [{'to': '+1555%07d' % i, 'vars': {'name': f'N{i}'}}
                           for i in range(n)], **extra}
    status, c, _ = api('POST', '/campaigns', body)
    assert status == 201, f'create: {status} {c}'
    return c


def release_scheduler():
    """Asks the .t to start the scheduler, and waits until it runs."""
    started = os.path.join(OUT, 'scheduler-started')
    if os.path.exists(started):
        return
    open(os.path.join(OUT, 'start-scheduler'), 'w').close()
    deadline = time.time() + 60
    while not os.path.exists(started):
        assert time.time() < deadline, 'the scheduler was not started'
        time.sleep(0.1)
    log('#   the scheduler is started')


def tomorrow_at(minute=30):
    """Tomorrow, this hour, in the viewer's zone (a wall-clock day later,
    whatever a change of time between), moved past a skipped hour."""
    at = (datetime.now(VIEWER) + timedelta(days=1)).replace(minute=minute, second=0, microsecond=0)
    while at.astimezone(timezone.utc).astimezone(VIEWER).replace(tzinfo=None) != at.replace(tzinfo=None):
        at += timedelta(hours=1)
    return at


def save_results():
    with open(os.path.join(OUT, 'results.json'), 'w') as f:
        json.dump({'checks': results, 'data': data}, f, indent=1)


# ------------------------------------------------------------- the browser

def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = '/usr/bin/chromium'
    for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage',
              '--disable-gpu', '--window-size=1280,1000', '--lang=en-US',
              '--no-first-run', '--disable-extensions',
              '--disable-background-networking', '--disable-sync',
              '--disable-component-update', '--mute-audio',
              '--user-data-dir=' + tempfile.mkdtemp(prefix='chromium-', dir=OUT)):
        opts.add_argument(a)
    opts.add_experimental_option('prefs', {'intl.accept_languages': 'en-US'})
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    service = Service('/usr/bin/chromedriver', log_path=os.path.join(OUT, 'chromedriver.log'))
    return webdriver.Chrome(service=service, options=opts)


d = None


def wait(cond, timeout=10, what='a condition'):
    # the page re-renders as it polls: an element found may be replaced
    return WebDriverWait(d, timeout, poll_frequency=0.1,
                         ignored_exceptions=[StaleElementReferenceException]
                         ).until(lambda _: cond(), message=what)


def rgb(css):
    """(r, g, b) of a computed colour, rgb() or rgba()."""
    return tuple(int(float(x)) for x in css[css.index('(') + 1:-1].split(',')[:3])


def q(css, root=None):
    return (root or d).find_element(By.CSS_SELECTOR, css)


def qs(css, root=None):
    return (root or d).find_elements(By.CSS_SELECTOR, css)


def go(hash_path):
    d.execute_script('location.hash = arguments[0]', hash_path)
    wait(lambda: d.execute_script('return location.hash') == '#' + hash_path, 5, hash_path)


def heading(text, timeout=10):
    wait(lambda: any(h.text.startswith(text) for h in qs('main h1')), timeout,
         f'the heading "{text}"')


def shot(name):
    d.save_screenshot(os.path.join(SHOTS, f'console-{name}.png'))


def axe(page):
    if not d.execute_script('return typeof axe !== "undefined"'):
        with open(AXE) as f:
            d.execute_script(f.read())
    found = d.execute_async_script('''
        const done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']})
          .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,
              nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))))
          .catch(e => done([{id: 'axe-error', impact: 'critical', nodes: [String(e)]}]));''')
    bad = [v for v in found if v['impact'] in ('serious', 'critical')]
    check(f'axe-core: no serious or critical violation on the {page} page', not bad,
          json.dumps(bad))


def badge_of(row_or_page):
    return q('.badge', row_or_page)


def detail_badge():
    return q('.detail-head .badge')


def stat(name):
    return q(f'.number[data-stat="{name}"] dd').text


def action_buttons():
    return [b.get_attribute('data-action') for b in qs('.actions[role=group] button')]


browser_log = []


def console_log():
    """The browser's console so far (chromedriver hands each entry once)."""
    browser_log.extend(d.get_log('browser'))
    return browser_log


def no_alert():
    try:
        d.switch_to.alert
        return False
    except NoAlertPresentException:
        return True


def active_label():
    """What the focused control is called: its label, else its text."""
    return d.execute_script('''
        const e = document.activeElement;
        return (e.labels && e.labels[0] ? e.labels[0].textContent
                : e.getAttribute('aria-label') || e.textContent || '').trim();''')


def tab_to(label, limit=80):
    """Tab (keys only) until the focused control is the one labelled so."""
    for _ in range(limit):
        if active_label().startswith(label):
            return d.switch_to.active_element
        ActionChains(d).send_keys(Keys.TAB).perform()
    raise AssertionError(f'no control labelled "{label}" reached with Tab')


def keys(*k):
    ActionChains(d).send_keys(*k).perform()


def type_date_time(date_el, time_el, when):
    """Types a date and a time into Chrome's en-US pickers, keys only."""
    date_el.send_keys(when.strftime('%m%d%Y'))
    time_el.send_keys(when.strftime('%I%M%S') + ('A' if when.hour < 12 else 'P'))


# ------------------------------------------------------------- journeys

def new_campaign(name, message, page=None):
    """Opens the create form, runs axe-core on it as page (if named), and
    types the campaign's name and message body."""
    go('/new')
    heading('New campaign')
    if page:
        axe(page)
    q('form.create input[type=text]').send_keys(name)
    body = q('form.create textarea:not(.mono)')
    body.clear()
    body.send_keys(message)


def journey(fn):
    def run():
        log(f'# {fn.__name__}')
        t0 = time.time()
        try:
            fn()
        except Exception as e:                      # noqa: BLE001
            check(f'{fn.__name__} ran to its end', False,
                  '\n'.join(l for l in traceback.format_exc().splitlines()
                            if not l.startswith('#')))
            try:
                shot(f'failed-{fn.__name__}')
            except Exception:                        # noqa: BLE001
                pass
        log(f'#   {time.time() - t0:.1f} s')
        save_results()
    return run


@journey
def enter_a_key():
    d.get(URL + '/')
    heading('Log in')
    axe('login')
    shot('login')
    key = q('input[type=password]')
    check('the key field has a label', d.execute_script(
        'return arguments[0].labels[0].textContent', key) == 'API key')
    key.send_keys('not-a-key' + Keys.ENTER)
    wait(lambda: q('.message.error').is_displayed(), 5, 'a refusal')
    check('a wrong key is refused', 'refused' in q('.message.error').text)
    key.clear()
    key.send_keys(KEY + Keys.ENTER)
    heading('Campaigns')
    check('the key is in sessionStorage',
          d.execute_script('return Object.values(sessionStorage)').count(KEY) == 1)
    check('and in no URL', KEY not in d.current_url)


@journey
def create_scheduled_from_csv():
    csv = os.path.join(OUT, 'recipients.csv')
    with open(csv, 'w') as f:
        f.write('to,name\n')
        for i in range(1000):
            f.write('+1555%07d,Person %d\n' % (i, i))
    create('A draft')
    new_campaign('Morning outreach',
                 'Hi {{name}}, your table is ready ({{to}}){{missing}}.', 'create')
    # a file with a bad row first: the API's answer names it, nothing is added
    bad = os.path.join(OUT, 'bad.csv')
    with open(bad, 'w') as f:
        f.write('to,name\n+15550000001,A\n+15550000002,B\nnot-a-number,C\n')
    q('input[type=file]').send_keys(bad)
    wait(lambda: 'about 3 recipients' in q('.upload-result').text, 5, 'the file read')
    q('form.create button[type=submit]').click()
    wait(lambda: 'index 2' in q('.upload-result').text, 10, 'the refusal')
    check('a bad row is refused with its index and the API\'s message',
          q('.upload-result').text.startswith('Refused: the recipient at index 2: '),
          q('.upload-result').text)
    bar = q('progress[aria-label="Upload progress"]')
    check('the upload showed its progress, to the end of the file',
          bar.is_displayed() and float(bar.get_attribute('max')) == os.path.getsize(bad)
          and bar.get_attribute('value') == bar.get_attribute('max'),
          f'{bar.get_attribute("value")} of {bar.get_attribute("max")}, the file {os.path.getsize(bad)} bytes')
    q('input[type=file]').send_keys(csv)
    wait(lambda: 'about 1000 recipients' in q('.upload-result').text, 5, 'the file read')
    check('the preview shows the first recipient\'s rendering',
          q('output.preview').text == 'Hi Person 0, your table is ready (+15550000000).',
          q('output.preview').text)
    q('input[name=when][value=later]').click()
    Select(q('fieldset.when select')).select_by_value('America/New_York')
    # past times are refused before anything is sent
    date_el, time_el = q('fieldset.when input[type=date]'), q('fieldset.when input[type=time]')
    type_date_time(date_el, time_el, datetime.now(ZoneInfo('America/New_York')) - timedelta(minutes=2))
    q('form.create button[type=submit]').click()
    check('a time in the past is refused in the page',
          'in the past' in q('form.create .message.error').text, q('form.create .message.error').text)
    # 5 s ahead (issue 16); the scheduler starts only once it was seen
    # purple in the list and on the calendar (release_scheduler())
    at = (datetime.now(ZoneInfo('America/New_York')) + timedelta(seconds=5)).replace(microsecond=0)
    date_el.clear()
    time_el.clear()
    type_date_time(date_el, time_el, at)
    utc = at.astimezone(timezone.utc)
    check('the picker shows the UTC instant it means',
          utc.strftime('%Y-%m-%d %H:%M:%S UTC') in q('output.instant').text, q('output.instant').text)
    shot('create')
    q('form.create button[type=submit]').click()
    wait(lambda: '/campaigns/' in d.current_url and '/new' not in d.current_url, 10, 'the campaign page')
    cid = d.current_url.rsplit('/', 1)[1]
    data['scheduled'] = {'id': cid, 'at_utc': utc.strftime('%Y-%m-%dT%H:%M:%S.000Z')}
    heading('Morning outreach')
    wait(lambda: stat('total') == '1000', 5, '1000 recipients')
    check('its page shows the 1000 recipients, and what the upload answered',
          q('main .message.info').text == 'Recipients: added 1000, duplicates 0, total 1000.',
          q('main .message.info').text)
    # the list: purple, status in words, time in this browser's zone
    go('/campaigns')
    row = wait(lambda: (qs(f'tr[data-id="{cid}"]') or [None])[0], 5, 'the row')
    b = badge_of(row)
    check('the list shows it scheduled, in purple',
          b.text.lower() == 'scheduled' and rgb(b.value_of_css_property('background-color')) == PURPLE,
          f'{b.text} {b.value_of_css_property("background-color")}')
    t = q('time', row)
    check('its start in this browser\'s zone, UTC on hover',
          t.get_attribute('title') == utc.strftime('%Y-%m-%d %H:%M:%S UTC'), t.get_attribute('title'))
    rows = [(badge_of(r).text.lower(), [b.text for b in qs('td.actions .btn', r)])
            for r in qs('table.campaigns tbody tr')]
    check('"Start now" and "Schedule" on drafts only',
          ('draft', ['Start now', 'Schedule']) in rows
          and all((s == 'draft') == bool(b) for s, b in rows), rows)
    shot('list')
    go('/calendar')
    heading('Calendar')
    entry = wait(lambda: (qs(f'a.entry[href="#/campaigns/{cid}"]') or [None])[0], 5, 'the entry')
    check('the calendar shows it, in purple',
          rgb(entry.value_of_css_property('border-left-color')) == PURPLE
          and 'scheduled' in entry.get_attribute('title'), entry.get_attribute('title'))
    log(f'#   seen on the calendar {(utc - datetime.now(timezone.utc)).total_seconds():.1f} s before its start')
    axe('calendar')
    shot('calendar')
    release_scheduler()
    entry.click()
    heading('Morning outreach')
    check('a click on the calendar opens the campaign', d.current_url.endswith(cid))
    wait(lambda: detail_badge().text.lower() == 'running', 15, 'running')
    check('it becomes running', True)
    shot('detail-running')
    wait(lambda: detail_badge().text.lower() == 'completed', 30, 'completed')
    wait(lambda: stat('sent') == '1000', 3, '1000 sent')
    p = q('.stats progress')
    check('then completed, the bar at 100 %',
          p.get_attribute('value') == p.get_attribute('max') == '1000'
          and '(100 %)' in q('.stats .progress-text').text, q('.stats .progress-text').text)
    check('and the counts right', [stat(s) for s in ('total', 'pending', 'sent', 'failed')]
          == ['1000', '0', '1000', '0'])
    check('a completed campaign offers only Delete', action_buttons() == ['delete'], action_buttons())
    check('its recipients are listed', len(qs('#recipients-h ~ .table-wrap tbody tr')) == 50)
    Select(q('#recipients-h ~ .filters select')).select_by_value('failed')
    wait(lambda: 'No recipient matches' in q('#recipients-h ~ .table-wrap tbody').text, 5, 'the filter')
    check('and filtered by status', True)
    check('its events tell the story', [a in q('.timeline').text for a in
                                        ('create', 'recipients_added', 'schedule', 'completed')]
          == [True] * 4, q('.timeline').text)
    axe('campaign')
    shot('detail')


@journey
def pause_resume_cancel():
    c = create('Pause me', 5000, start=True)      # 25 s at rate sms 200
    go(f'/campaigns/{c["id"]}')
    heading('Pause me')
    wait(lambda: detail_badge().text.lower() == 'running', 10, 'running')
    check('a running campaign offers Pause and Cancel', action_buttons() == ['pause', 'cancel'],
          action_buttons())
    q('button[data-action=pause]').click()
    wait(lambda: detail_badge().text.lower() == 'paused', 5, 'paused')
    check('Pause pauses it', action_buttons() == ['resume', 'cancel'], action_buttons())
    q('button[data-action=resume]').click()
    wait(lambda: detail_badge().text.lower() in ('queued', 'running'), 5, 'resumed')
    check('Resume resumes it', 'pause' in action_buttons(), action_buttons())
    q('button[data-action=cancel]').click()
    dlg = wait(lambda: (qs('dialog[open]') or [None])[0], 3, 'the confirmation')
    check('Cancel asks first', 'Cancel this campaign?' in dlg.text)
    shot('cancel-confirm')
    q('dialog[open] button.danger').click()
    wait(lambda: detail_badge().text.lower() == 'cancelled', 5, 'cancelled')
    status, now, _ = api('GET', f'/campaigns/{c["id"]}')
    check('and it is cancelled', now['status'] == 'cancelled' and now['stats']['cancelled'] > 0,
          now['stats'])


def campaign_gets(cid):
    """The page's GETs of one campaign so far: [(start ms, status)]."""
    return d.execute_script('''
        return performance.getEntriesByType("resource")
          .filter(e => new URL(e.name).pathname === arguments[0])
          .map(e => [e.startTime, e.responseStatus]);''', f'/v1/campaigns/{cid}')


@journey
def run_immediately_from_json():
    rows = [{'to': '+1555010%04d' % i, 'vars': {'name': f'P{i}'}} for i in range(1200)]
    path = os.path.join(OUT, 'recipients.json')
    with open(path, 'w') as f:
        json.dump(rows + [rows[7]], f)              # one twice: a duplicate
    new_campaign('Right away', 'Hello {{name}}')
    q('input[type=file]').send_keys(path)
    wait(lambda: 'JSON, about 1201 recipients' in q('.upload-result').text, 5, 'the file read')
    check('a JSON file is read, and previewed', q('output.preview').text == 'Hello P0',
          q('output.preview').text)
    q('input[name=when][value=now]').click()
    check('"Run immediately" needs no date',
          not q('fieldset.when').is_displayed()
          and q('form.create button[type=submit]').text == 'Create and start')
    d.execute_script('performance.clearResourceTimings(); performance.setResourceTimingBufferSize(100000)')
    t0 = time.time()                                # the page's GETs are counted from here
    q('form.create button[type=submit]').click()
    heading('Right away')
    cid = d.current_url.rsplit('/', 1)[1]
    check('the upload\'s answer counts the duplicate',
          q('main .message.info').text == 'Recipients: added 1200, duplicates 1, total 1200.',
          q('main .message.info').text)
    wait(lambda: detail_badge().text.lower() == 'running', 10, 'running')
    rate = wait(lambda: (lambda v: v if v not in ('—', '0', '0.0') else None)(stat('sent-per-second')),
                8, 'a rate')
    check('a running campaign shows its sends per second', float(rate) > 0, rate)
    wait(lambda: detail_badge().text.lower() == 'completed', 30, 'completed')
    done = time.time()
    # the recipients, a page of 50 at a time, in the order they came (once
    # completed: the change to completed reloads the table)
    first = lambda: q('#recipients-h ~ .table-wrap tbody tr td').text   # noqa: E731
    wait(lambda: first() == '+15550100000', 5, 'the first page')
    pager_btn = lambda label: [b for b in qs('#recipients-h ~ .pager button')   # noqa: E731
                               if b.text == label][0]
    wait(lambda: pager_btn('Next page').is_enabled(), 5, 'the pager settled')
    check('the first page cannot go back', not pager_btn('Previous page').is_enabled())
    pager_btn('Next page').click()
    wait(lambda: first() == '+15550100050', 5, 'the second page')
    check('"Next page" shows the next 50',
          len(qs('#recipients-h ~ .table-wrap tbody tr')) == 50 and pager_btn('Previous page').is_enabled())
    pager_btn('Previous page').click()
    wait(lambda: first() == '+15550100000', 5, 'the first page again')
    check('and "Previous page" the first again', True)
    check('it ran to the end', [stat(s) for s in ('total', 'sent', 'failed')] == ['1200', '1200', '0'])
    gets = campaign_gets(cid)
    check('the page polled at most once a second', len(gets) <= (done - t0) + 4,
          f'{len(gets)} GETs in {done - t0:.1f} s')
    time.sleep(2.5)                                 # what a final campaign must not see
    check('and stopped once it was final', len(campaign_gets(cid)) == len(gets),
          f'{len(gets)} then {len(campaign_gets(cid))}')
    # a campaign that does not change is polled conditionally: 304s
    later = create('Not changing', 1, scheduled_at=(datetime.now(timezone.utc) + timedelta(hours=2))
                   .strftime('%Y-%m-%dT%H:%M:%SZ'))
    go(f'/campaigns/{later["id"]}')
    heading('Not changing')
    wait(lambda: [s for _, s in campaign_gets(later['id'])].count(304) >= 2, 5, 'two 304s')
    check('an unchanged campaign is polled with If-None-Match and answered 304', True)
    go(f'/campaigns/{cid}')
    heading('Right away')
    shot('detail-json')


@journey
def refused_action():
    c = create('Changed meanwhile')
    go(f'/campaigns/{c["id"]}')
    heading('Changed meanwhile')
    _, _, h = api('GET', f'/campaigns/{c["id"]}')
    seen = h['ETag']
    q('button[data-action=delete]').click()
    wait(lambda: qs('dialog[open]'), 3, 'the confirmation')
    q('dialog[open] button[value=no]').click()
    wait(lambda: not qs('dialog'), 3, 'the confirmation gone')
    check('"Keep it" keeps it, and gives the focus back to Delete',
          api('GET', f'/campaigns/{c["id"]}')[0] == 200
          and d.switch_to.active_element.get_attribute('data-action') == 'delete',
          d.switch_to.active_element.get_attribute('outerHTML'))
    q('button[data-action=delete]').click()
    wait(lambda: qs('dialog[open]'), 3, 'the confirmation')
    # someone else schedules it while this user confirms
    at = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%SZ')
    assert api('POST', f'/campaigns/{c["id"]}/schedule', {'scheduled_at': at})[0] == 200
    q('dialog[open] button.danger').click()
    box = wait(lambda: (qs('main .view > .message.error:not([hidden])') or [None])[0], 5, 'the refusal')
    _, answer, _ = api('DELETE', f'/campaigns/{c["id"]}', headers={'If-Match': seen})
    check('a refused action shows the API\'s message',
          box.text.splitlines()[0] == answer['error']['message'],
          f'{box.text!r} vs {answer}')
    wait(lambda: detail_badge().text.lower() == 'scheduled', 5, 'refreshed')
    check('and the page is refreshed', action_buttons() == ['start', 'reschedule', 'edit', 'cancel'],
          action_buttons())
    shot('refused')
    # Reschedule: the picker, filled with its time, takes a new one
    q('button[data-action=reschedule]').click()
    date_el = wait(lambda: (qs('.schedule-box input[type=date]') or [None])[0], 3, 'the picker')
    check('Reschedule opens the picker at its time',
          date_el.get_attribute('value') == datetime.fromisoformat(at).astimezone(timezone.utc).strftime('%Y-%m-%d')
          and d.switch_to.active_element == date_el, date_el.get_attribute('value'))
    Select(q('.schedule-box select')).select_by_value('UTC')
    new = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    date_el.clear()
    q('.schedule-box input[type=time]').clear()
    type_date_time(date_el, q('.schedule-box input[type=time]'), new)
    q('.schedule-box button[type=submit]').click()
    wait(lambda: not qs('.schedule-box form'), 5, 'the picker closed')
    got = api('GET', f'/campaigns/{c["id"]}')[1]['scheduled_at']
    check('and the campaign is rescheduled to it, the focus on the first action',
          got == new.strftime('%Y-%m-%dT%H:%M:%S.000Z')
          and d.switch_to.active_element.get_attribute('data-action') == 'start', got)


@journey
def hostile_name():
    c = create(HOSTILE, 1)
    d.execute_script('performance.clearResourceTimings(); window.__alerts = [];'
                     'window.alert = (m) => window.__alerts.push(String(m));')
    go('/campaigns')
    row = wait(lambda: (qs(f'tr[data-id="{c["id"]}"]') or [None])[0], 5, 'the row')
    check('the hostile name shows as text in the list', q('td.name a', row).text == HOSTILE,
          q('td.name a', row).text)
    go(f'/campaigns/{c["id"]}')
    wait(lambda: q('main h1').text == HOSTILE, 5, 'the heading')
    check('and as the heading of its page', True)
    check('no element was made of it', not qs('main img'))
    check('no alert opened', no_alert() and d.execute_script('return window.__alerts.length') == 0)
    names = d.execute_script('return performance.getEntriesByType("resource").map(e => e.name)')
    check('no request to x', not [n for n in names if n.rstrip('/').endswith('/x')], names)
    shot('hostile')


@journey
def list_actions():
    fillers = [create(f'Filler {i}', 0, type='email') for i in range(21)]
    go('/campaigns?type=email')
    heading('Campaigns')
    rows = lambda: qs('table.campaigns tbody tr[data-id]')   # noqa: E731
    wait(lambda: len(rows()) == 20, 5, 'a page of 20')
    check('the list filters by type, 20 to a page, newest first',
          {q('td:nth-child(2)', r).text for r in rows()} == {'email'}
          and rows()[0].get_attribute('data-id') == fillers[-1]['id'])
    nxt = [b for b in qs('.pager button') if b.text == 'Next page'][0]
    nxt.click()
    wait(lambda: [r.get_attribute('data-id') for r in rows()] == [fillers[0]['id']], 5, 'the second page')
    check('"Next page" shows the oldest', True)
    # Start now, from the list
    draft = create('Start me from the list', 2)
    go('/campaigns?status=draft')
    row = wait(lambda: (qs(f'tr[data-id="{draft["id"]}"]') or [None])[0], 5, 'the draft')
    [b for b in qs('td.actions button', row) if b.text == 'Start now'][0].click()
    wait(lambda: api('GET', f'/campaigns/{draft["id"]}')[1]['status'] != 'draft', 5, 'started')
    # the list redrawn after the start: the row without its buttons
    wait(lambda: not qs(f'tr[data-id="{draft["id"]}"] td.actions button'), 5, 'the list redrawn')
    check('"Start now" in the list starts the draft, the focus kept in the page',
          api('GET', f'/campaigns/{draft["id"]}')[1]['status'] in ('queued', 'running', 'completed')
          and d.execute_script('return document.querySelector("main").contains(document.activeElement)'))
    # Schedule, from the list: the draft's page with the picker open
    go('/calendar')
    go('/campaigns?status=draft')
    row = wait(lambda: (qs(f'tr[data-id="{fillers[3]["id"]}"]') or [None])[0], 5, 'a filler')
    q('td.actions a.btn', row).click()
    date_el = wait(lambda: (qs('.schedule-box input[type=date]') or [None])[0], 5, 'the picker')
    check('"Schedule" in the list opens the draft\'s picker', d.switch_to.active_element == date_el)
    # a successful Delete
    q('button[data-action=delete]').click()
    wait(lambda: qs('dialog[open]'), 3, 'the confirmation')
    q('dialog[open] button.danger').click()
    heading('Campaigns')
    check('Delete, confirmed, deletes it and returns to the list',
          api('GET', f'/campaigns/{fillers[3]["id"]}')[0] == 404)


@journey
def create_by_keyboard():
    go('/campaigns')
    heading('Campaigns')
    d.execute_script('document.querySelector("main h1").focus()')   # where the app puts it
    tab_to('New campaign')
    keys(Keys.ENTER)
    heading('New campaign')
    tab_to('Name')
    keys('Typed by keys')
    tab_to('Type')
    keys('s')                                       # sms
    tab_to('Message')
    ActionChains(d).key_down(Keys.CONTROL).send_keys('a').key_up(Keys.CONTROL).perform()
    keys('Hello {{name}}')
    tab_to('Paste CSV or JSON')
    keys('to,name', Keys.ENTER, '+15559990001,Kay', Keys.ENTER, '+15559990002,Lee')
    tab_to('Save as draft')
    keys(Keys.ARROW_DOWN, Keys.ARROW_DOWN)          # Schedule for later
    at = tomorrow_at()
    tab_to('Date')
    keys(at.strftime('%m%d%Y'))
    tab_to('Time')
    keys(at.strftime('%I%M%S') + ('A' if at.hour < 12 else 'P'))
    tab_to('Create and schedule')
    shot('keyboard')
    check('focus is visible on the button', d.execute_script(
        'return getComputedStyle(document.activeElement).outlineStyle') != 'none')
    keys(Keys.ENTER)
    heading('Typed by keys')
    cid = d.current_url.rsplit('/', 1)[1]
    _, c, _ = api('GET', f'/campaigns/{cid}')
    want = at.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.000Z')
    data['keyboard'] = cid
    check('a campaign is created with the keyboard only',
          c['status'] == 'scheduled' and c['stats']['total'] == 2 and c['scheduled_at'] == want
          and c['message']['body'] == 'Hello {{name}}', c)


@journey
def series_with_preview():
    new_campaign('Weekday digest', 'Hi {{name}} ({{timezone}})')
    q('form.create textarea.mono').send_keys('to,name,timezone\n+15550002001,Sue,Asia/Tokyo\n')
    check('the preview takes a timezone column for the zone, not a var',
          q('output.preview').text == 'Hi Sue ()', q('output.preview').text)
    q('input[name=when][value=repeat]').click()
    Select(q('fieldset.recurrence select')).select_by_visible_text('Weekdays at 09:00')
    _, want, _ = api('GET', '/recurrence/preview?cron=0%209%20*%20*%20MON-FRI&count=5&timezone='
                     + urllib.parse.quote(os.environ.get('TZ', 'UTC')))
    got = lambda: [t.get_attribute('datetime') for t in qs('ol.occurrences time')]  # noqa: E731
    try:
        wait(lambda: got() == want['occurrences'], 5, 'the five occurrences')
    except TimeoutException:
        pass
    check('the recurrence editor previews the next five occurrences', got() == want['occurrences'],
          f'{got()} vs {want}')
    cron = q('fieldset.recurrence input.mono')
    cron.clear()
    cron.send_keys('0 9 * * FUNDAY')
    _, refusal, _ = api('GET', '/recurrence/preview?count=5&cron=' + urllib.parse.quote('0 9 * * FUNDAY'))
    shown = lambda: ' '.join(b.text for b in qs('fieldset.recurrence .message.error:not([hidden])'))  # noqa: E731
    try:        # the preview follows the typing: it may show a shorter cron's refusal first
        wait(lambda: refusal['error']['message'] in shown(), 5, 'the refusal')
    except TimeoutException:
        pass
    check('a bad cron shows the API\'s reason', refusal['error']['message'] in shown(),
          f'{shown()!r} vs {refusal}')
    cron.clear()
    cron.send_keys('0 9 * * MON-FRI')
    wait(lambda: len(qs('ol.occurrences li')) == 5, 5, 'five occurrences again')
    window = q('fieldset.send-window input[type=checkbox]')
    window.click()
    q('fieldset.send-window input[type=time]').send_keys('0700A')
    shot('series')
    q('form.create button[type=submit]').click()
    heading('Weekday digest')
    wait(lambda: qs('#runs-h'), 5, 'the runs')
    check('a series shows its recurrence and runs',
          '0 9 * * MON-FRI' in q('dl.meta').text and action_buttons() == ['pause', 'edit', 'cancel'],
          action_buttons())
    sid = d.current_url.rsplit('/', 1)[1]
    data['series'] = sid
    _, c, _ = api('GET', f'/campaigns/{sid}')
    check('with the send window edited', c['send_window'] == {
        'days': ['mon', 'tue', 'wed', 'thu', 'fri'], 'from': '07:00', 'to': '20:00'}, c['send_window'])
    _, ev, _ = api('GET', f'/campaigns/{sid}/events')
    actions = [e['action'] for e in ev['data']]
    check('its recipients are in before it is a series (a run made at once copies them)',
          c['stats']['total'] == 1 and 'recipients_added' in actions and 'schedule' in actions
          and actions.index('recipients_added') < actions.index('schedule'), actions)
    # the calendar draws its occurrences: a whole week ahead, one each weekday
    day = (datetime.now(VIEWER) + timedelta(days=7)).strftime('%Y-%m-%d')
    go(f'/calendar?view=week&date={day}')
    heading('Calendar')
    seen = lambda: [(e.find_element(By.XPATH, './ancestor::td').get_attribute('data-day'),   # noqa: E731
                     q('.entry-time', e).text)
                    for e in qs(f'table.week a.entry.kind-occurrence[href="#/campaigns/{sid}"]')]
    wait(lambda: len(seen()) == 5, 5, 'five occurrences in the week')
    weekdays = sorted(td.get_attribute('data-day') for td in qs('table.week td[data-day]'))[:5]
    check('the calendar shows the series\' occurrences, at 09:00 each weekday',
          sorted(seen()) == [(w, seen()[0][1]) for w in weekdays] and seen()[0][1].startswith('09:00'),
          seen())


def rename(cid, old, new, page=None):
    """Opens a campaign's edit page, renames it and saves; runs page() on
    the form first (checks, axe)."""
    go(f'/campaigns/{cid}')
    heading(old)
    wait(lambda: qs('button[data-action=edit]'), 5, 'Edit')
    q('button[data-action=edit]').click()
    heading('Edit campaign')
    name = wait(lambda: (qs('form.create input[type=text]') or [None])[0], 5, 'the form')
    if page:
        page()
    name.clear()
    name.send_keys(new)
    q('form.create button[type=submit]').click()
    heading(new)


@journey
def edit_and_week():
    cid = data.get('keyboard')
    if not cid:                                     # that journey failed: one of its own
        at = tomorrow_at().astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        cid = create('Typed by keys', 2, scheduled_at=at)['id']
    rename(cid, 'Typed by keys', 'Typed, then edited', lambda: axe('edit'))
    check('Edit renames it', api('GET', f'/campaigns/{cid}')[1]['name'] == 'Typed, then edited')
    go('/campaigns')
    heading('Campaigns')
    status = q('.filters select')
    d.execute_script('arguments[0].focus()', status)
    keys(Keys.ARROW_DOWN)
    check('arrow keys in a filter keep the focus there (the list waits for Apply)',
          d.switch_to.active_element == status and d.execute_script('return location.hash') == '#/campaigns')
    Select(status).select_by_value('scheduled')
    q('.filters button[type=submit]').click()
    wait(lambda: d.execute_script('return location.hash') == '#/campaigns?status=scheduled', 5, 'applied')
    wait(lambda: qs(f'tr[data-id="{cid}"]'), 5, 'the filtered list')
    check('the list filters by status', {badge_of(r).text.lower() for r in
                                         qs('table.campaigns tbody tr')} == {'scheduled'})
    axe('list')
    day = tomorrow_at().strftime('%Y-%m-%d')
    go(f'/calendar?view=week&date={day}')
    wait(lambda: qs(f'table.week a.entry[href="#/campaigns/{cid}"]'), 5, 'the week\'s entry')
    check('the week view shows it', True)
    axe('week')
    shot('week')


@journey
def edit_keeps_the_rest():
    # a zone this browser's list may lack, a window to 24:00 with seconds,
    # a local time: a rename must leave them as they are
    window = {'days': ['mon', 'sat'], 'from': '08:00:30', 'to': '24:00'}
    c = create('Kept as it is', 1, timezone='Asia/Kolkata', send_window=window, local_time='09:00')
    before = api('GET', f'/campaigns/{c["id"]}')[1]

    def form():
        shot('edit')
        zone = Select(q('form.create .row select')).first_selected_option.get_attribute('value')
        check('the edit form keeps a zone missing from the browser\'s list', zone == 'Asia/Kolkata', zone)
        to = [e.get_attribute('value') for e in qs('fieldset.send-window input[type=time]')]
        check('and shows a window to 24:00 (as 00:00, the day\'s end), with seconds',
              to == ['08:00:30', '00:00'], to)
    rename(c['id'], 'Kept as it is', 'Renamed, the rest kept', form)
    after = api('GET', f'/campaigns/{c["id"]}')[1]
    check('a rename leaves its zone, window and local time',
          [after[k] for k in ('timezone', 'send_window', 'local_time')]
          == [before[k] for k in ('timezone', 'send_window', 'local_time')], after)
    sid = data.get('series')
    if not sid:
        return check('the series was made', False)
    ends = (datetime.now(timezone.utc) + timedelta(days=60)).strftime('%Y-%m-%dT%H:%M:%SZ')
    _, s, _ = api('GET', f'/campaigns/{sid}')
    status, s, _ = api('PATCH', f'/campaigns/{sid}',
                       {'recurrence': {**s['recurrence'], 'ends_at': ends, 'catch_up': 60}})
    assert status == 200, s
    status, _, _ = api('POST', f'/campaigns/{sid}/pause', {})
    assert status == 200
    _, before, _ = api('GET', f'/campaigns/{sid}')
    _, ev, _ = api('GET', f'/campaigns/{sid}/events')
    rename(sid, 'Weekday digest', 'Weekday digest, renamed')
    _, after, _ = api('GET', f'/campaigns/{sid}')
    check('a paused series is renamed, its recurrence kept whole',
          after['name'] == 'Weekday digest, renamed' and after['recurrence'] == before['recurrence'],
          f'{before["recurrence"]} -> {after["recurrence"]}')


@journey
def status_page():
    busy = create('Busy', 5000, start=True)       # 25 s at rate sms 200
    go('/status')
    heading('Status')
    wait(lambda: qs('.pool'), 5, 'the pools')
    # the page redraws every 2 s: read it in one go
    def sms():
        return d.execute_script('''
            const p = [...document.querySelectorAll('.pool')]
              .find(p => p.querySelector('h2').textContent === 'sms');
            const m = p && p.querySelector('meter.running');
            return m && [m.value, m.max];''')
    wait(lambda: sms() == [1, 4], 5, 'one of four sms slots running')
    check('the status page shows each type\'s pool as bars', True)
    check('and the schedulers', 'sched1' in q('table').text, q('table').text)
    axe('status')
    shot('status')
    api('POST', f'/campaigns/{busy["id"]}/cancel', {})


@journey
def log_out():
    names = d.execute_script('return performance.getEntriesByType("resource").map(e => e.name)')
    check('the key is in no request\'s URL, no cookie, no localStorage',
          names and not [n for n in names if KEY in n or urllib.parse.quote(KEY) in n] and d.execute_script('return document.cookie') == ''
          and d.execute_script('return localStorage.length') == 0, names)
    check('the page broke no rule of its Content-Security-Policy',
          not [e for e in console_log() if 'Content Security Policy' in e.get('message', '')])
    q('#logout').click()
    heading('Log in')
    check('logging out forgets the key',
          d.execute_script('return sessionStorage.length') == 0
          and KEY not in json.dumps(d.execute_script('return Object.assign({}, localStorage)')))
    check('the key was never logged to the console',
          not [e for e in console_log() if KEY in e.get('message', '')])
    d.execute_script('location.hash = "#/status"')
    time.sleep(0.5)
    check('logged out, a link leads nowhere but the login form',
          [h.text for h in qs('main h1')] == ['Log in'] and not qs('.pool'),
          [h.text for h in qs('main h1')])
    shot('logged-out')


def main():
    global d
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    d = browser()
    try:
        for j in (enter_a_key, create_scheduled_from_csv, pause_resume_cancel,
                  run_immediately_from_json, refused_action,
                  hostile_name, list_actions, create_by_keyboard, edit_and_week, series_with_preview,
                  edit_keeps_the_rest, status_page, log_out):
            j()
            if j is create_scheduled_from_csv:
                release_scheduler()     # whatever became of that journey
    finally:
        d.quit()
        save_results()


if __name__ == '__main__':
    main()
