// A message for the next page (say, what an upload added before the new
// campaign's page opens); taken once.
let pending = null;

export function leave(text) { pending = text; }

export function take() {
  const text = pending;
  pending = null;
  return text;
}
