// A time of day as the API writes it ("HH:MM", "HH:MM:SS", "24:00") in an
// <input type=time>, which holds neither 24:00 nor, by default, seconds.
import { h } from '../dom.js';

const hasSeconds = (t) => /^\d\d:\d\d:(?!00$)\d\d$/.test(t ?? '');

// {el, read}: read() gives the API's own text back while the user has
// not changed the input, so "24:00" and "20:00:30" survive an edit
export function timeInput(text, props = {}) {
  // 00:00 as a closing time is the day's end: the same instant as 24:00
  const shown = /^24:00(:00)?$/.test(text ?? '') ? '00:00' : (text ?? '');
  const el = h('input', { type: 'time', step: hasSeconds(text) ? 1 : null, ...props });
  el.value = shown;
  const initial = el.value;        // as the browser normalised it
  return { el, read: () => (el.value === initial && text ? text : el.value) };
}
