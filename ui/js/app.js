// The console's entry: the login gate, the routes, the navigation.
import { events, session } from './api.js';
import { route, start, stop, current } from './router.js';
import { loginView } from './views/login.js';
import { listView } from './views/list.js';
import { createView } from './views/create.js';
import { detailView } from './views/detail.js';
import { editView } from './views/edit.js';
import { calendarView } from './views/calendar.js';
import { statusView } from './views/status.js';

const main = document.getElementById('main');
const nav = document.querySelectorAll('#nav a');

route('/campaigns', listView);
route('/new', createView);
route('/campaigns/:id', detailView);
route('/campaigns/:id/edit', editView);
route('/calendar', calendarView);
route('/status', statusView);

let lastPath = null;

// Marks the current section, and moves focus to a new page's heading so
// keyboard and screen-reader users start at its top; the same page drawn
// again (a filter applied, the calendar's next month) too, since the
// control that had the focus is gone with the old drawing.
function afterRoute() {
  const { path } = current();
  for (const a of nav) {
    const here = path === a.getAttribute('href').slice(1)
      || (a.dataset.section && path.startsWith(a.dataset.section));
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (path !== lastPath || !main.contains(document.activeElement)) main.querySelector('h1')?.focus();
  lastPath = path;
}

function loggedIn() {
  document.body.classList.remove('logged-out');
  // replaceState: no hashchange, so no second render
  if (current().path === '/') history.replaceState(null, '', '#/campaigns');
  start(main, '/campaigns', afterRoute);
}

// Logged out, the routes are not followed: a link or a typed hash shows
// the login form still, and the navigation is hidden (app.css).
function showLogin(note) {
  stop();
  document.body.classList.add('logged-out');
  main.replaceChildren();
  lastPath = null;
  loginView(main, note, loggedIn);
}

events.addEventListener('unauthorized', () => {
  if (document.body.classList.contains('logged-out')) return;
  session.logout();
  showLogin('The key was refused (revoked?): log in again.');
});

document.getElementById('logout').addEventListener('click', () => {
  session.logout();
  showLogin('Logged out: the key is forgotten.');
});

if (session.key) loggedIn();
else showLogin();
