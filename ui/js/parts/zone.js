// A select of IANA time zones, the browser's own first.
import { h } from '../dom.js';
import { browserZone, zones } from '../tz.js';

export function zoneSelect(value = browserZone(), props = {}) {
  const mine = browserZone();
  const known = zones();
  // a name the API knows but this browser's list lacks (Asia/Kolkata,
  // Etc/UTC, US/Eastern...) stays itself, not the browser's zone
  const extra = value && value !== mine && !known.includes(value) ? [value] : [];
  return h('select', props,
    h('option', { value: mine, selected: value === mine }, `${mine} (this browser)`),
    [...extra, ...known.filter((z) => z !== mine)].map((z) =>
      h('option', { value: z, selected: z === value }, z)));
}
