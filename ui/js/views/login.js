// Asks for the API key. It is checked with one request and kept in
// sessionStorage for this tab only.
import { h, field, messageBox, say } from '../dom.js';
import { get, session } from '../api.js';

export function loginView(outlet, note, done) {
  const key = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false',
    required: true });
  const problem = messageBox('error');
  const info = h('p', { class: 'hint', role: 'status' }, note ?? '');
  const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Log in');
  const form = h('form', { class: 'login card', novalidate: true }, info, problem,
    field('API key', key, 'A key made with campaign.create_api_key(); it stays in this tab only.'),
    submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const k = key.value.trim();
    if (!k) { say(problem, 'Enter your API key.'); key.focus(); return; }
    // a header takes printable ASCII only (fetch would throw, not ask)
    if (!/^[\x21-\x7e]+$/.test(k)) {
      say(problem, 'That is not a key: a key is letters, digits and signs, no spaces.');
      key.focus();
      return;
    }
    submit.disabled = true;
    session.login(k);
    try {
      await get('/status');
      key.value = '';
      done();
    } catch (err) {
      session.logout();
      say(problem, err.status === 401 ? 'That key was refused.' : err.message);
      key.focus();
    } finally {
      submit.disabled = false;
    }
  });
  outlet.append(h('h1', { tabindex: -1 }, 'Log in'), form);
  key.focus();
}
