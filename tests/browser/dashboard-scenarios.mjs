// SPDX-License-Identifier: MIT
// Browser scenarios of the dashboard, run one at a time by test-dashboard.py against a real
// cluster:  node dashboard-scenarios.mjs cluster|probe|policy|restart|load
// Environment: ACS_DASHBOARD_URL, ACS_API_TOKEN, ACS_ARTIFACT_DIR, ACS_BROWSER_NODE_MODULES.
// Lines "@@ kill-vim" / "@@ start-vim" ask the harness to act (it answers "ok" on stdin);
// the last line "@= {json}" is the scenario's result. Exit status 0 = passed.

import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { launchBrowser } from './browser.mjs';

const BASE = process.env.ACS_DASHBOARD_URL;
const TOKEN = process.env.ACS_API_TOKEN;
const ARTIFACTS = process.env.ACS_ARTIFACT_DIR || '.';
const TEST_USER = 'browser-test';

const stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function askHarness(request) {
  console.log(`@@ ${request}`);
  const { value, done } = await stdinLines.next();
  assert.ok(!done && value.trim() === 'ok', `harness did not do ${request}`);
}

async function apiState() {
  const res = await fetch(new URL('api/v1/state', BASE));
  assert.equal(res.status, 200);
  return res.json();
}

async function apiPolicy(changes) {
  const res = await fetch(new URL('api/v1/policy', BASE), {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(changes),
  });
  assert.equal(res.status, 200, `restoring the policy: ${res.status}`);
}

function step(what) {
  console.log(`-- ${what}`);
}

async function shot(page, name) {
  const path = join(ARTIFACTS, `dashboard-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`   screenshot ${path}`);
}

// Opens the page and records every console error, page error and failed request.
// unlock: the page starts with the API token, as after "Unlock" (probes and load need it).
async function openDashboard({ unlock = false, ...options } = {}) {
  const b = await launchBrowser(options);
  if (unlock)
    await b.page.addInitScript((token) => sessionStorage.setItem('acs.token', token), TOKEN);
  b.problems = [];
  b.page.on('console', (m) => { if (m.type() === 'error') b.problems.push(`console: ${m.text()}`); });
  b.page.on('pageerror', (e) => b.problems.push(`page error: ${e.message}`));
  b.page.on('requestfailed', (r) => {
    // The event stream is cut on purpose when a page closes or the VIM restarts.
    if (!r.url().endsWith('/api/v1/events'))
      b.problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`);
  });
  b.page.on('response', (r) => { if (r.status() >= 400) b.problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  const started = Date.now();
  await b.page.goto(BASE);
  await b.page.locator('#connection[data-state="connected"]').waitFor({ timeout: 10000 });
  await b.page.locator('.vm').first().waitFor({ timeout: 10000 });
  b.liveAfterS = (Date.now() - started) / 1000;
  return b;
}

// What the page shows: VM names and the container ids in each card.
function pageCluster(page) {
  return page.evaluate(() => [...document.querySelectorAll('.vm')].map((card) => ({
    name: card.dataset.vm,
    state: card.dataset.state,
    containers: [...card.querySelectorAll('.container')].map((li) => li.dataset.container).sort(),
  })));
}

function apiCluster(state) {
  const byName = [...state.vms].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  return byName.map((vm) => ({
    name: vm.name,
    state: vm.state,
    containers: vm.containers.map((c) => c.id).sort(),
  }));
}

async function waitFor(what, predicate, timeoutMs, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await predicate();
    if (last)
      return last;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function containerCount(cluster) {
  return cluster.reduce((n, vm) => n + vm.containers.length, 0);
}

const scenarios = {
  // The page loads cleanly and shows what the API reports.
  async cluster() {
    const b = await openDashboard();
    try {
      step('the VM cards and containers match /api/v1/state');
      let shown;
      await waitFor('the page to show what the API reports', async () => {
        const [state, page] = [await apiState(), await pageCluster(b.page)];
        shown = page;
        return JSON.stringify(apiCluster(state)) === JSON.stringify(page);
      }, 10000);
      assert.ok(shown.length >= 3, `3 VMs expected, the page shows ${shown.length}`);
      assert.ok(containerCount(shown) >= 2, 'the page shows at least two containers');
      step('cards say state, slots and CPU; rows say port, state, CPU bar, in-flight');
      const card = b.page.locator('.vm').first();
      await assert.doesNotReject(card.locator('.badge').first().waitFor());
      assert.match(await card.locator('.vm-meta').innerText(), /CPU .* CPUs .* of 4 slots/);
      const row = card.locator('.container').first();
      assert.match(await row.innerText(), /:\d+[\s\S]*(ready|starting|draining)[\s\S]*% of [\d.]+ CPU[\s\S]*in flight/);
      assert.equal(await row.locator('[role="meter"]').count(), 1);
      step('the summary and the policy are filled in');
      assert.match(await b.page.locator('#svc-containers').innerText(), /^\d+ \/ \d+ \/ \d+$/);
      assert.equal(await b.page.locator('#policy-target_cpu').inputValue(), '0.6');
      await b.page.waitForTimeout(1500);
      await shot(b.page, 'cluster');
      await b.page.setViewportSize({ width: 390, height: 844 });
      await b.page.waitForTimeout(500);
      await b.page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png') });
      step('every form control has a label, every button a name');
      const unlabeled = await b.page.evaluate(() => [
        ...[...document.querySelectorAll('input, select')].filter((f) => !f.labels.length).map((f) => f.id),
        ...[...document.querySelectorAll('button')].filter((x) => !x.textContent.trim()).map((x) => x.outerHTML),
      ]);
      assert.deepEqual(unlabeled, []);
      step('no console error, page error or failed request');
      assert.deepEqual(b.problems, []);
      step(`the page was live with the cluster drawn ${b.liveAfterS.toFixed(2)} s after it was opened`);
      return { vms: shown.map((vm) => vm.name), live_after_s: b.liveAfterS };
    } finally {
      await b.close();
    }
  },

  // Ten presses of "Send request": each shows VM and container; more than one container answers.
  async probe() {
    const b = await openDashboard({ unlock: true });
    try {
      const page = b.page;
      const result = page.locator('#probe-result');
      const answers = [];
      for (let i = 0; i < 10; i++) {
        if (i === 0) {
          // Keyboard first: the button is reachable and works without a mouse.
          await page.locator('#probe').focus();
          await page.keyboard.press('Enter');
        } else {
          await page.getByRole('button', { name: 'Send request' }).click();
        }
        await page.locator('#probe:not([disabled])').waitFor();
        assert.equal(await result.getAttribute('data-outcome'), 'ok', await result.innerText());
        const text = await result.innerText();
        assert.match(text, /HTTP 200: answered by \S+ \/ [0-9a-f]{6,} in [\d.,]+ ms/);
        const vm = await result.getAttribute('data-vm');
        const container = await result.getAttribute('data-container');
        answers.push({ vm, container });
        // The answering container is on the page, in the VM that answered, and flashes.
        const cluster = await pageCluster(page);
        const card = cluster.find((c) => c.name === vm);
        assert.ok(card, `the page shows the VM that answered (${vm})`);
        assert.ok(card.containers.some((id) => id.startsWith(container) || container.startsWith(id.slice(0, 12))),
                  `the page shows container ${container} in ${vm}`);
        const flashing = await page.evaluate(() =>
          [...document.querySelectorAll('.container.flash')].map((li) => li.dataset.container));
        assert.ok(flashing.some((id) => id.startsWith(container) || container.startsWith(id.slice(0, 12))),
                  `the answering container flashes (flashing: ${flashing.join(' ')})`);
        if (i === 0)
          await shot(page, 'probe');
      }
      assert.equal(await page.locator('#probe-history li').count(), 10);
      const containers = answers.map((a) => a.container);
      step(`answers came from ${new Set(containers).size} containers: ${[...new Set(containers)].join(' ')}`);
      assert.ok(new Set(containers).size > 1, 'ten requests reach more than one container');
      assert.deepEqual(b.problems, []);
      return { containers };
    } finally {
      await b.close();
    }
  },

  // Without the token the page is read-only and the API refuses; with it the change is applied
  // and shows up in the events, naming who made it.
  async policy() {
    const b = await openDashboard();
    const page = b.page;
    try {
      step('read-only without a token');
      assert.equal(await page.locator('#access').innerText(), 'Read-only');
      assert.ok(await page.locator('#policy-apply').isDisabled());
      assert.ok(await page.locator('#policy-target_cpu').isDisabled());
      assert.ok(await page.locator('#scale-apply').isDisabled());
      const status = await page.evaluate(async () => (await fetch('/api/v1/policy', {
        method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{"target_cpu":0.5}',
      })).status);
      assert.equal(status, 401, 'a policy change without the token is refused by the VIM');

      step('a wrong token is refused and the page locks again');
      await page.getByLabel('API token').fill('not-the-token');
      await page.getByRole('button', { name: 'Unlock' }).click();
      await page.getByLabel('Target CPU (0–1)').fill('0.55');
      await page.getByRole('button', { name: 'Apply policy' }).click();
      await page.locator('#policy-result[data-outcome="error"]').waitFor({ timeout: 5000 });
      assert.match(await page.locator('#policy-result').innerText(), /refused.*401/);
      assert.equal(await page.locator('#access').innerText(), 'Read-only');
      assert.equal((await apiState()).policy.target_cpu, 0.6);
      await shot(page, 'policy-refused');

      step('the right token: the change is applied and appears in the events');
      await page.getByLabel('API token').fill(TOKEN);
      await page.getByLabel('your name').fill(TEST_USER);
      await page.getByRole('button', { name: 'Unlock' }).click();
      assert.match(await page.locator('#access').innerText(), new RegExp(TEST_USER));
      await page.getByLabel('Target CPU (0–1)').fill('0.55');
      await page.getByRole('button', { name: 'Apply policy' }).click();
      await page.locator('#policy-result[data-outcome="ok"]').waitFor({ timeout: 5000 });
      await waitFor('the VIM to report target_cpu 0.55', async () => (await apiState()).policy.target_cpu === 0.55, 5000);
      const event = page.locator('#events li[data-event="policy"]', { hasText: TEST_USER });
      await event.first().waitFor({ timeout: 5000 });
      assert.match(await event.first().innerText(), /0\.55/);
      await waitFor('the form to show the policy in force', async () =>
        (await page.locator('#policy-target_cpu').inputValue()) === '0.55', 5000);
      await shot(page, 'policy-applied');

      step('drain a container from the page: it drains (or is gone) and the drain is in the events');
      const row = page.locator('.container[data-state="ready"]').first();
      const id = await row.getAttribute('data-container');
      await row.getByRole('button', { name: /^Drain container/ }).click();
      await page.locator('#action-result[data-outcome="ok"]').waitFor({ timeout: 5000 });
      await page.locator('#events li[data-event="drain"]', { hasText: TEST_USER }).first().waitFor({ timeout: 5000 });
      await waitFor(`container ${id.slice(0, 12)} to drain`, async () => {
        const li = page.locator(`.container[data-container="${id}"]`);
        return (await li.count()) === 0 || (await li.getAttribute('data-state')) === 'draining';
      }, 10000, 100);
      return {};
    } finally {
      await apiPolicy({ target_cpu: 0.6 });
      await b.close();
    }
  },

  // acs-vim is killed and started again: the page says it is disconnected, then recovers alone.
  async restart() {
    const b = await openDashboard();
    const page = b.page;
    try {
      await page.locator('.vm').first().waitFor();
      await askHarness('kill-vim');
      step('the page shows that it lost the VIM');
      await page.locator('#connection[data-state="disconnected"]').waitFor({ timeout: 8000 });
      assert.match(await page.locator('#connection').innerText(), /Disconnected/);
      await shot(page, 'disconnected');
      await askHarness('start-vim');
      const restarted = Date.now();
      step('and recovers by itself');
      await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 15000 });
      const reconnectS = (Date.now() - restarted) / 1000;
      await waitFor('the VMs to re-register and show up again', async () => {
        const [state, shown] = [await apiState(), await pageCluster(page)];
        return shown.length >= 3 && containerCount(shown) >= 2 &&
               JSON.stringify(apiCluster(state)) === JSON.stringify(shown);
      }, 20000);
      const recoveredS = (Date.now() - restarted) / 1000;
      step(`live again ${reconnectS.toFixed(1)} s after the VIM answered, VMs back after ${recoveredS.toFixed(1)} s`);
      await shot(page, 'reconnected');
      return { reconnect_s: reconnectS, vms_back_s: recoveredS };
    } finally {
      await b.close();
    }
  },

  // Load started from the page: a new container appears within seconds and the charts move.
  async load() {
    const b = await openDashboard({ unlock: true });
    const page = b.page;
    try {
      await page.waitForTimeout(3000);   // a few seconds of quiet on the charts first
      const before = await pageCluster(page);
      const idsBefore = new Set(before.flatMap((vm) => vm.containers));
      const samplesBefore = Number(await page.locator('.charts').getAttribute('data-samples'));
      const chartBefore = await page.locator('#chart-rps').screenshot();

      step('start 12 users for 30 s from the page');
      await page.getByLabel('Users', { exact: true }).fill('12');
      await page.getByLabel('Seconds', { exact: true }).fill('30');
      const started = Date.now();
      await page.getByRole('button', { name: 'Start load' }).click();
      await page.locator('#load-result[data-outcome="ok"]').waitFor({ timeout: 5000 });
      await page.locator('#load-status[data-running="1"]').waitFor({ timeout: 5000 });

      const after = await waitFor('a new container on the page', async () => {
        const now = await pageCluster(page);
        return now.flatMap((vm) => vm.containers).some((id) => !idsBefore.has(id)) ? now : null;
      }, 20000);
      const seconds = (Date.now() - started) / 1000;
      step(`a new container appeared on the page ${seconds.toFixed(1)} s after the start`);

      await waitFor('requests per second on the page', async () =>
        Number((await page.locator('#px-rps').innerText()).replace(/,/g, '')) > 0, 10000);
      await page.waitForTimeout(6000);   // let the scale-out show on the charts
      const samplesAfter = Number(await page.locator('.charts').getAttribute('data-samples'));
      const chartAfter = await page.locator('#chart-rps').screenshot();
      assert.ok(samplesAfter > samplesBefore, `the charts gained samples (${samplesBefore} -> ${samplesAfter})`);
      assert.ok(!chartBefore.equals(chartAfter), 'the requests chart moved');
      assert.ok(await page.locator('#events li[data-event^="scale-out"]').count() > 0,
                'the scale-out decision is in the events timeline');
      step('the events filter leaves the decisions and VM changes');
      await page.getByLabel('Show').selectOption('decisions');
      assert.ok(await page.locator('#events li[data-event^="scale-out"]').first().isVisible());
      assert.equal(await page.locator('#events li[data-event^="container-"]:visible').count(), 0);
      await shot(page, 'scale-out');

      step('stop the load from the page');
      await page.getByRole('button', { name: 'Stop load' }).click();
      await page.locator('#load-result[data-outcome="ok"]', { hasText: 'Load stopped' }).waitFor({ timeout: 5000 });
      await page.locator('#load-status[data-running="0"]').waitFor({ timeout: 10000 });
      assert.deepEqual(b.problems, []);
      return {
        containers_before: containerCount(before),
        containers_after: containerCount(await pageCluster(page)),
        first_new_container_s: seconds,
        first_seen: containerCount(after),
      };
    } finally {
      await b.close();
    }
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`usage: dashboard-scenarios.mjs ${Object.keys(scenarios).join('|')}`);
  process.exit(2);
}
try {
  const result = await scenarios[name]();
  console.log(`@= ${JSON.stringify(result)}`);
  process.exit(0);
} catch (e) {
  console.log(`FAILED: ${e.stack || e}`);
  process.exit(1);
}
