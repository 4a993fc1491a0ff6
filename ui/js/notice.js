// A message for one campaign's page (say, what an upload added before
// the new campaign's page opens); taken once, and only by that page.
let pending = null;

export function leave(text, id) { pending = text ? { text, id } : null; }

export function take(id) {
  const p = pending;
  pending = null;
  return p && p.id === id ? p.text : null;
}
