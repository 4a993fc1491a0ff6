// Recipient-local delivery: an optional time of day at which each
// recipient gets the message in its own zone (the campaign's local_time).
import { field } from '../dom.js';
import { timeInput } from './time-input.js';

export function localTimeField(value = null) {
  const t = timeInput(value ?? '');
  const el = field('Send at this local time for each recipient (optional)', t.el,
    'In each recipient\'s own zone (a "timezone" column or field), else the campaign\'s, on the start\'s date. Empty: all at once.');
  // null when empty; changed: differs from what the campaign has
  const read = () => {
    const v = t.el.value ? t.read() : null;
    return { value: v, changed: v !== (value ?? null) };
  };
  return { el, read };
}
