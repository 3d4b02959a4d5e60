// Calls to the acs-vim HTTP API (same origin). Every call that makes the VIM do something
// (probes and load runs too) carries the API token kept for this browser session; reads need none.

const TOKEN_KEY = 'acs.token';
const USER_KEY = 'acs.user';

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY) || ''; },
  get user() { return sessionStorage.getItem(USER_KEY) || ''; },
  save(token, user) {
    sessionStorage.setItem(TOKEN_KEY, token);
    if (user)
      sessionStorage.setItem(USER_KEY, user);
    else
      sessionStorage.removeItem(USER_KEY);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

// An API answer that was not 2xx: status plus the server's own words.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(method, path, body, { auth = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined)
    headers['Content-Type'] = 'application/json';
  if (auth) {
    if (session.token)
      headers.Authorization = `Bearer ${session.token}`;
    headers['X-ACS-User'] = session.user || 'dashboard';
  }

  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, `the VIM cannot be reached (${e.message})`);
  }

  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const why = (data && (data.error || data.message)) || text.trim() || res.statusText;
    throw new ApiError(res.status, `${res.status}: ${why}`);
  }
  return data;
}

export const api = {
  state: () => request('GET', '/api/v1/state'),
  probe: () => request('POST', '/api/v1/probe', undefined, { auth: true }),
  startLoad: (users, durationS) => request('POST', '/api/v1/load', { users, duration_s: durationS }, { auth: true }),
  stopLoad: () => request('DELETE', '/api/v1/load', undefined, { auth: true }),
  setPolicy: (changes) => request('PUT', '/api/v1/policy', changes, { auth: true }),
  scale: (replicas) => request('POST', '/api/v1/scale', { replicas }, { auth: true }),
  vmAction: (vm, action) =>
    request('POST', `/api/v1/vms/${encodeURIComponent(vm)}/${action}`, undefined, { auth: true }),
  drain: (container) =>
    request('POST', `/api/v1/containers/${encodeURIComponent(container)}/drain`, undefined, { auth: true }),
};
