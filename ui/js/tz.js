// Time zones with the browser's own tz data (Intl): a wall-clock date and
// time in an IANA zone to the UTC instant it means, and back.

export function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

export function zones() {
  const list = typeof Intl.supportedValuesOf === 'function'
    ? Intl.supportedValuesOf('timeZone') : [];
  return [...new Set(['UTC', browserZone(), ...list])].sort();
}

const formats = new Map();
function partsIn(ms, zone) {
  if (!formats.has(zone)) {
    formats.set(zone, new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit',
      day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    }));
  }
  const p = {};
  for (const { type, value } of formats.get(zone).formatToParts(ms)) p[type] = value;
  return p;
}


// {date: 'YYYY-MM-DD', time: 'HH:MM:SS'} of an instant in a zone
export function wallClock(ms, zone) {
  const p = partsIn(ms, zone);
  return { date: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}:${p.second}` };
}

// the zone's offset from UTC at an instant, in ms
function offset(ms, zone) {
  const p = partsIn(ms, zone);
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

function normTime(time) {
  return time.length === 5 ? `${time}:00` : time;
}

// The instant (ms) a wall-clock time in a zone means, as the API reads it:
// a time shown twice (fall-back) is its first occurrence; a time the
// clocks skip gives {gap: true} (the API refuses it too).
export function toInstant(date, time, zone) {
  const [y, mo, d] = date.split('-').map(Number);
  const [hh, mi, ss = 0] = normTime(time).split(':').map(Number);
  const naive = Date.UTC(y, mo - 1, d, hh, mi, ss);
  const day = 86400000;
  const want = `${date}T${normTime(time)}`;
  const found = [offset(naive - day, zone), offset(naive + day, zone), offset(naive, zone)]
    .map((o) => naive - o)
    .filter((ms) => {
      const w = wallClock(ms, zone);
      return `${w.date}T${w.time}` === want;
    });
  if (found.length === 0) return { gap: true };
  return { ms: Math.min(...found) };
}
