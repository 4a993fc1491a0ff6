// A select of IANA time zones, the browser's own first.
import { h } from '../dom.js';
import { browserZone, zones } from '../tz.js';

export function zoneSelect(value = browserZone(), props = {}) {
  const mine = browserZone();
  return h('select', props,
    h('option', { value: mine, selected: value === mine }, `${mine} (this browser)`),
    zones().filter((z) => z !== mine).map((z) =>
      h('option', { value: z, selected: z === value }, z)));
}
