// Recipients as the user gives them: pasted, or a CSV or JSON file (which
// wins), uploaded with its progress and the API's answer shown.
import { h, field, button } from '../dom.js';
import { upload } from '../api.js';
import { kindOf, contentType, roughCount } from '../recipients.js';

export function recipientsInput(onChange) {
  const pasted = h('textarea', { rows: 5, class: 'mono', spellcheck: 'false' });
  const file = h('input', { type: 'file', accept: '.csv,.json,text/csv,application/json' });
  const clearFile = button('Remove the file', () => { file.value = ''; changed(); },
    { hidden: true });
  const bar = h('progress', { max: 1, value: 0, 'aria-label': 'Upload progress', hidden: true });
  const result = h('p', { class: 'upload-result', role: 'status' });
  let value = { text: '', kind: 'csv', blob: null };

  async function changed() {
    const f = file.files[0];
    clearFile.hidden = !f;
    pasted.disabled = Boolean(f);
    value = f ? { text: await f.text(), kind: null, blob: f }
      : { text: pasted.value, kind: null, blob: null };
    value.kind = kindOf(value.text, f?.name);
    const n = roughCount(value.text, value.kind);
    result.textContent = value.text.trim()
      ? `${value.kind.toUpperCase()}, about ${n} recipient${n === 1 ? '' : 's'}.` : '';
    onChange(value);
  }
  pasted.addEventListener('input', changed);
  file.addEventListener('change', changed);

  // Adds them to a campaign; resolves to the line shown, or throws the
  // API's refusal (field "recipients", the bad row's index in the text).
  async function send(id) {
    bar.hidden = false;
    bar.value = 0;
    result.textContent = 'Uploading recipients…';
    try {
      const { data } = await upload(`/campaigns/${encodeURIComponent(id)}/recipients`, value.blob ?? value.text,
        contentType(value.kind), (loaded, total) => { bar.max = total; bar.value = loaded; });
      bar.value = bar.max;
      result.textContent = `Recipients: added ${data.added}, duplicates ${data.duplicates}, total ${data.total}.`;
      return result.textContent;
    } catch (err) {
      result.textContent = err.index !== undefined
        ? `Refused: the recipient at index ${err.index}: ${err.message}` : `Refused: ${err.message}`;
      err.field ??= 'recipients';
      throw err;
    }
  }

  const el = h('fieldset', {}, h('legend', {}, 'Recipients'),
    field('Paste CSV or JSON', pasted, 'CSV: a header row whose first column is "to", the others vars (a "timezone" column is each one\'s zone). JSON: [{"to": "...", "vars": {...}, "timezone": "..."}].'),
    h('div', { class: 'row' }, field('Or upload a CSV or JSON file', file), clearFile),
    bar, result);
  return { el, send, has: () => value.text.trim() !== '', focus: () => (pasted.disabled ? file : pasted).focus() };
}
