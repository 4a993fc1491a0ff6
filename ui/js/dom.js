// The only way views build markup. Text always goes in as text nodes or
// textContent, never as HTML, so a value from the API cannot become markup
// (a campaign named <img src=x onerror=...> shows those characters).

const FORBIDDEN = new Set(['innerHTML', 'outerHTML', 'style', 'srcdoc']);

// h('a', {href: '#/x', class: 'btn', onclick: fn}, 'text', child, [more])
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (FORBIDDEN.has(name)) throw new Error(`h(): ${name} is not allowed`);
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'value' || name === 'checked' || name === 'selected') {
      el[name] = value;
    } else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Replaces everything inside el.
export function put(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// A labelled form control: the label's for= matches the control's id.
let ids = 0;
export function field(labelText, control, hint) {
  control.id ||= `f${++ids}`;
  let hintEl = null;
  if (hint) {
    hintEl = h('p', { class: 'hint', id: `${control.id}-hint` }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: 'field' },
    h('label', { for: control.id }, labelText), control, hintEl);
}

export function select(options, value, props = {}) {
  return h('select', props, options.map(([v, label]) =>
    h('option', { value: v, selected: v === value }, label)));
}

export function button(label, onclick, props = {}) {
  return h('button', { type: 'button', class: 'btn', onclick, ...props }, label);
}

// A region that announces what is put in it (errors, results).
export function messageBox(kind = 'error') {
  return h('div', { class: `message ${kind}`, role: kind === 'error' ? 'alert' : 'status',
    hidden: true });
}

export function say(box, ...children) {
  put(box, ...children);
  box.hidden = box.childNodes.length === 0;
}

// A table's head: a column header per name.
export function thead(names) {
  return h('thead', {}, h('tr', {}, names.map((n) => h('th', { scope: 'col' }, n))));
}

// A table body's rows, one per item, or one row saying there are none.
export function fillRows(body, items, row, cols, empty) {
  body.replaceChildren(...items.map(row));
  if (!items.length) {
    body.append(h('tr', {}, h('td', { colspan: cols, class: 'muted' }, empty)));
  }
}
