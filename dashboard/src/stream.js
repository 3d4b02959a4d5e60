// The live feed: /api/v1/events (Server-Sent Events) carries `state` every second and `log`
// for every ACS event. The connection is ours to keep: when it fails, or when no state has
// arrived for a while (a stopped VIM may leave the socket open), it is closed and opened again
// with a short backoff, so the page recovers by itself when the VIM comes back.

const STALE_MS = 4000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 4000;

export class LiveStream {
  // handlers: onState(state), onLog(event), onStatus({connected, since})
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.source = null;
    this.retryTimer = null;
    this.staleTimer = null;
    this.backoff = BACKOFF_MIN_MS;
    this.connected = false;
    this.downSince = Date.now();
  }

  start() {
    this.open();
  }

  open() {
    this.retryTimer = null;
    const source = new EventSource(this.url);
    this.source = source;

    this.listen(source, 'state', this.handlers.onState);
    this.listen(source, 'log', this.handlers.onLog);
    source.addEventListener('error', () => this.fail());
  }

  // Every event of this type carries one JSON object for handler; any event proves the VIM alive.
  listen(source, type, handler) {
    source.addEventListener(type, (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch (e) {
        console.warn(`ACS: ignoring a ${type} event that is not JSON:`, e.message);
        return;
      }
      this.markAlive();
      handler(data);
    });
  }

  markAlive() {
    this.backoff = BACKOFF_MIN_MS;
    if (!this.connected) {
      this.connected = true;
      this.handlers.onStatus({ connected: true, since: Date.now() });
    }
    clearTimeout(this.staleTimer);
    this.staleTimer = setTimeout(() => this.fail(), STALE_MS);
  }

  fail() {
    clearTimeout(this.staleTimer);
    if (this.source) {
      this.source.close();
      this.source = null;
    }
    if (this.connected) {
      this.connected = false;
      this.downSince = Date.now();
    }
    this.handlers.onStatus({ connected: false, since: this.downSince, retryMs: this.backoff });
    if (!this.retryTimer) {
      this.retryTimer = setTimeout(() => this.open(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
    }
  }
}
