// Recipients as the user gives them (pasted or a file, CSV or JSON): what
// to send the API, and the first recipient for the message's preview. The
// API checks every row; here only the first is read.

export function kindOf(text, fileName = '') {
  if (/\.json$/i.test(fileName)) return 'json';
  if (/\.csv$/i.test(fileName)) return 'csv';
  return /^\s*[[{]/.test(text) ? 'json' : 'csv';
}

export const contentType = (kind) => (kind === 'json' ? 'application/json' : 'text/csv');

// The first records of an RFC 4180 text (quotes, doubled quotes, CRLF or
// LF, a BOM; blank lines skipped), at most `max` of them.
function csvRecords(text, max = 2) {
  const records = [];
  let row = [];
  let cell = '';
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRow = () => {
    row.push(cell);
    if (row.length > 1 || row[0] !== '') records.push(row);
    row = [];
    cell = '';
  };
  for (; i < text.length && records.length < max; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; }
    else if (c === '\n') endRow();
    else if (c === '\r' && text[i + 1] === '\n') { endRow(); i++; }
    else cell += c;
  }
  if (records.length < max && (cell !== '' || row.length)) endRow();
  return records;
}

// {to, vars} of the first recipient, or null (none, or not readable yet)
export function firstRecipient(text, kind) {
  if (!text.trim()) return null;
  if (kind === 'json') {
    try {
      const list = JSON.parse(text);
      const r = Array.isArray(list) ? list[0] : null;
      return r && typeof r === 'object' ? { to: r.to ?? '', vars: r.vars ?? {} } : null;
    } catch {
      return null;
    }
  }
  const [header, first] = csvRecords(text, 2);
  if (!header || !first) return null;
  const names = header.map((n) => n.trim());
  const vars = {};
  // a "timezone" column is the recipient's zone, not a var (docs/api.md)
  names.forEach((n, i) => { if (i > 0 && n !== 'timezone') vars[n] = first[i] ?? ''; });
  return { to: (first[0] ?? '').trim(), vars };
}

// How many data rows a text has, roughly (for the user, not the API)
export function roughCount(text, kind) {
  if (kind === 'json') {
    try { const l = JSON.parse(text); return Array.isArray(l) ? l.length : 0; } catch { return 0; }
  }
  return Math.max(text.split(/\r?\n/).filter((l) => l.trim()).length - 1, 0);
}
