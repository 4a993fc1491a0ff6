// A message rendered for one recipient as the scheduler renders it: each
// {{name}} (up to the next "}}", names of at most 64 bytes) is the
// recipient's var, {{to}} its address, a missing var empty.

const VAR_MAX = 64;

function text(v) {
  if (v === null || v === undefined || typeof v === 'object') return '';
  return String(v);
}

export function render(s, to, vars = {}) {
  let out = '';
  let i = 0;
  for (;;) {
    const open = s.indexOf('{{', i);
    if (open < 0) break;
    const close = s.indexOf('}}', open + 2);
    if (close < 0) break;
    const name = s.slice(open + 2, close);
    if (new TextEncoder().encode(name).length > VAR_MAX) {
      out += s.slice(i, open + 1);
      i = open + 1;
      continue;
    }
    out += s.slice(i, open) + (name === 'to' ? text(to) : text(vars[name]));
    i = close + 2;
  }
  return out + s.slice(i);
}
