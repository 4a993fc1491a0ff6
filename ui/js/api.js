// Everything that talks to the REST API: the key, requests, errors.
// The key lives in sessionStorage only (gone when the tab closes or on
// logout), goes out only as an Authorization header, never in a URL, and
// is never logged.

const STORE = 'campaign-console.key';
const BASE = '/v1';

export const session = {
  get key() { return sessionStorage.getItem(STORE); },
  login(key) { sessionStorage.setItem(STORE, key); },
  logout() { sessionStorage.removeItem(STORE); },
};

// An answer the API refused: the message is the API's own, for the user.
export class ApiError extends Error {
  constructor(status, body) {
    const e = body?.error ?? {};
    super(e.message || `The server answered ${status}.`);
    this.status = status;
    this.code = e.code;
    this.field = e.field;
    this.index = e.index;
    this.campaignStatus = e.status;
  }
}

// Views listen for this to send the user back to the login form.
export const events = new EventTarget();

function headers(extra = {}) {
  const h = { Accept: 'application/json', ...extra };
  if (session.key) h.Authorization = `Bearer ${session.key}`;
  return h;
}

function parse(text) {
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

function fail(status, body) {
  if (status === 401) events.dispatchEvent(new Event('unauthorized'));
  throw new ApiError(status, body);
}

// request('GET', '/campaigns', {query, body, headers, ifMatch, ifNoneMatch})
// resolves to {status, data, etag}; a 304 resolves with data null.
export async function request(method, path, opts = {}) {
  // %20, not URLSearchParams' "+": the API reads "+" as itself (cron)
  const query = Object.entries(opts.query ?? {})
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const url = BASE + path + (query ? `?${query}` : '');
  const extra = { ...opts.headers };
  if (opts.body !== undefined) extra['Content-Type'] = 'application/json';
  if (opts.ifMatch) extra['If-Match'] = opts.ifMatch;
  if (opts.ifNoneMatch) extra['If-None-Match'] = opts.ifNoneMatch;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers: headers(extra),
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      // a conditional GET of our own: the 304 must reach us, not the cache
      cache: 'no-store',
      signal: opts.signal,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { error: { message: 'The server cannot be reached.' } });
  }
  const data = parse(await res.text());
  if (res.status === 304) return { status: 304, data: null, etag: opts.ifNoneMatch };
  if (!res.ok) fail(res.status, data);
  return { status: res.status, data, etag: res.headers.get('ETag') };
}

export const get = (path, query, opts = {}) => request('GET', path, { ...opts, query });
export const post = (path, body, opts = {}) => request('POST', path, { ...opts, body });

// The API's limit on a body (docs/api.md: larger is a 413, often seen by
// a browser as a dropped connection), checked before sending.
export const MAX_BODY = 8 * 1024 * 1024;
const UPLOAD_TIMEOUT_MS = 120000;

// POSTs a body (a File, or pasted text) with XMLHttpRequest, whose upload
// progress fetch() does not give; onProgress(loaded, total). It settles
// whatever happens: an answer, a refusal, a lost connection, a timeout.
export function upload(path, body, contentType, onProgress) {
  return new Promise((resolve, reject) => {
    const size = typeof body === 'string' ? new Blob([body]).size : body.size;
    if (size > MAX_BODY) {
      reject(new ApiError(413, { error: { message:
        `${(size / 1048576).toFixed(1)} MiB is more than the API takes at once (8 MiB): split the file.` } }));
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', BASE + path);
    xhr.timeout = UPLOAD_TIMEOUT_MS;
    for (const [k, v] of Object.entries(headers({ 'Content-Type': contentType }))) {
      xhr.setRequestHeader(k, v);
    }
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener('load', () => {
      const data = parse(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) resolve({ status: xhr.status, data });
      else {
        try { fail(xhr.status, data); } catch (err) { reject(err); }
      }
    });
    const failed = (why) => () => reject(new ApiError(0, { error: { message: `The upload failed: ${why}` } }));
    xhr.addEventListener('error', failed('the server cannot be reached.'));
    xhr.addEventListener('abort', failed('it was stopped.'));
    xhr.addEventListener('timeout', failed('no answer in two minutes.'));
    xhr.send(body);
  });
}

// The types the API knows (its set is data): /status names each.
let typesCache = null;
export async function types() {
  if (!typesCache) {
    try {
      typesCache = Object.keys((await get('/status')).data.types).sort();
      if (typesCache.length === 0) throw new Error('no types');
    } catch {
      typesCache = null;
      return ['email', 'sms', 'voice'];
    }
  }
  return typesCache;
}
