// The ACS dashboard: wires the live feed to the views and the controls to the API.

import { api, session } from './api.js';
import { LiveStream } from './stream.js';
import { ClusterView } from './cluster.js';
import { Charts } from './charts.js';
import { EventsView } from './events.js';
import { PolicyView } from './policy.js';
import { el, setText, num, ms, clock, shortId } from './format.js';

const $ = (id) => document.getElementById(id);
const PROBE_HISTORY = 10;

// Shows the outcome of an action in its status line; returns true when it succeeded.
async function act(resultNode, what, call) {
  resultNode.dataset.outcome = 'pending';
  setText(resultNode, `${what}…`);
  try {
    const answer = await call();
    resultNode.dataset.outcome = 'ok';
    return answer ?? true;
  } catch (e) {
    resultNode.dataset.outcome = 'error';
    setText(resultNode, `${what} refused: ${e.message}`);
    if (e.status === 401) {
      session.clear();
      applyAccess();
      setText(resultNode, `${what} refused: the API token was not accepted (${e.message}). The page is read-only again.`);
    }
    return false;
  }
}

// Without a token the page is read-only: every control that changes the cluster is disabled.
function applyAccess() {
  const unlocked = Boolean(session.token);
  document.body.dataset.access = unlocked ? 'read-write' : 'read-only';
  const badge = $('access');
  badge.dataset.mode = unlocked ? 'read-write' : 'read-only';
  setText(badge, unlocked ? `Changes allowed as ${session.user || 'dashboard'}` : 'Read-only');
  $('token-clear').hidden = !unlocked;
  $('token-save').textContent = unlocked ? 'Replace' : 'Unlock';
  for (const node of document.querySelectorAll('.needs-token, .needs-token button, .needs-token input, .needs-token select, .needs-token fieldset'))
    if ('disabled' in node)
      node.disabled = !unlocked || node.dataset.busy === '1';   // a control waiting for its answer stays off
}

function setupToken() {
  const form = $('token-form');
  $('user-input').value = session.user;
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('token-input').value.trim();
    if (!token)
      return;
    session.save(token, $('user-input').value.trim());
    $('token-input').value = '';
    applyAccess();
  });
  $('token-clear').addEventListener('click', () => {
    session.clear();
    applyAccess();
  });
  applyAccess();
}

function showConnection({ connected, since }) {
  const node = $('connection');
  node.dataset.state = connected ? 'connected' : 'disconnected';
  document.body.classList.toggle('offline', !connected);
  setText(node, connected
    ? 'Live'
    : `Disconnected from the VIM since ${clock(since / 1000)}, reconnecting…`);
}

function showSummary(state) {
  const svc = state.service || {};
  const px = state.proxy || {};
  const load = state.load || {};
  setText($('generation'), state.generation ?? '–');
  setText($('updated'), typeof state.time === 'number' ? clock(state.time) : '–');
  setText($('svc-containers'), `${num(svc.ready)} / ${num(svc.running)} / ${num(svc.desired)}`);
  setText($('px-rps'), num(px.requests_per_s, 1));
  // The VIM knows p99 per backend from the proxy; a median only when the proxy reports one.
  setText($('px-latency'), typeof px.p50_ms === 'number'
    ? `${ms(px.p99_ms)} (p50 ${ms(px.p50_ms)})`
    : ms(px.p99_ms));
  setText($('px-inflight'), num(px.in_flight));
  setText($('px-totals'), `${num(px.requests_total)} / ${num(px.errors_total)}`);
  setText($('load-status'), load.running
    ? `${num(load.users)} users, ${num(load.remaining_s)} s left`
    : 'idle');
  $('load-status').dataset.running = load.running ? '1' : '0';
  if (state.proxy_url)
    setText($('proxy-url'), `(${state.proxy_url})`);
}

function setupProbe(cluster) {
  const button = $('probe');
  const result = $('probe-result');
  const history = $('probe-history');
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.dataset.busy = '1';
    const answer = await act(result, 'Request', () => api.probe());
    delete button.dataset.busy;
    button.disabled = !session.token;
    if (!answer)
      return;
    const body = answer.body && typeof answer.body === 'object' ? answer.body : {};
    const container = answer.container || body.container || '';
    const vm = answer.vm || body.vm || '?';
    setText(result, `HTTP ${answer.status}: answered by ${vm} / ${shortId(container) || '?'} in ${ms(answer.latency_ms)}`);
    result.dataset.vm = vm;
    result.dataset.container = container;
    cluster.flashContainer(container);

    history.prepend(el('li', { 'data-container': container },
      el('span', { class: 'vm-name', text: vm }), ' ',
      el('code', { text: shortId(container) || '?' }), ' ',
      el('span', { text: ms(answer.latency_ms) })));
    while (history.children.length > PROBE_HISTORY)
      history.lastElementChild.remove();
    const distinct = new Set([...history.children].map((li) => li.dataset.container)).size;
    history.dataset.distinct = String(distinct);
    history.setAttribute('aria-label', `Last ${history.children.length} answers, from ${distinct} containers`);
  });
}

function setupLoad() {
  const form = $('load-form');
  const result = $('load-result');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const users = Number($('load-users').value);
    const seconds = Number($('load-seconds').value);
    if (await act(result, 'Start load', () => api.startLoad(users, seconds)))
      setText(result, `Load started: ${users} users for ${seconds} s`);
  });
  $('load-stop').addEventListener('click', async () => {
    if (await act(result, 'Stop load', () => api.stopLoad()))
      setText(result, 'Load stopped');
  });
}

function setupScale() {
  const form = $('scale-form');
  const result = $('scale-result');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const replicas = Number($('scale-replicas').value);
    if (await act(result, 'Scale', () => api.scale(replicas)))
      setText(result, `Scaling to ${replicas} replicas`);
  });
}

function setupPolicy() {
  const result = $('policy-result');
  return new PolicyView($('policy-form'), async (changes) => {
    if (!changes) {
      setText(result, 'Nothing changed');
      return false;
    }
    const ok = await act(result, 'Policy change', () => api.setPolicy(changes));
    if (ok)
      setText(result, `Policy changed: ${Object.entries(changes).map(([k, v]) => `${k}=${v}`).join(', ')}`);
    return Boolean(ok);
  });
}

function main() {
  setupToken();
  const actionResult = $('action-result');
  const cluster = new ClusterView($('vms'), $('cluster-empty'), {
    vm: async (name, action) => {
      if (await act(actionResult, `${action} ${name}`, () => api.vmAction(name, action)))
        setText(actionResult, `${name}: ${action} requested`);
    },
    drain: async (id) => {
      if (await act(actionResult, `Drain ${shortId(id)}`, () => api.drain(id)))
        setText(actionResult, `Container ${shortId(id)} is draining`);
    },
  });
  const charts = new Charts({
    rps: $('chart-rps'), containers: $('chart-containers'), cpu: $('chart-cpu'), latency: $('chart-latency'),
  });
  const events = new EventsView($('events'), $('events-filter'));
  const policy = setupPolicy();
  setupProbe(cluster);
  setupLoad();
  setupScale();

  const onState = (state) => {
    showSummary(state);
    cluster.update(Array.isArray(state.vms) ? state.vms : []);
    policy.fill(state.policy);
    charts.push(state);
    document.querySelector('.charts').dataset.samples = String(charts.length);
    applyAccess();
  };

  const stream = new LiveStream('/api/v1/events', {
    onState,
    onLog: (entry) => events.add(entry),
    onStatus: showConnection,
  });
  // The first picture comes from /api/v1/state, so the page is filled before the first event.
  api.state().then(onState, (e) => console.warn('ACS: first state not loaded:', e.message));
  stream.start();
}

main();
