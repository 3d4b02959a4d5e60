// SPDX-License-Identifier: MIT
// Development aid: opens a dashboard URL and saves screenshots (laptop and phone sizes).
//   ACS_BROWSER_NODE_MODULES=build/tests/browser/npm/node_modules node shoot.mjs URL OUTDIR [SECONDS]

import { launchBrowser } from './browser.mjs';

const [url, outdir, seconds = '5'] = process.argv.slice(2);
for (const [name, width, height] of [['laptop', 1440, 1000], ['phone', 390, 844]]) {
  const b = await launchBrowser({ width, height });
  b.page.on('console', (m) => console.log(`console ${m.type()}: ${m.text()}`));
  b.page.on('pageerror', (e) => console.log(`pageerror: ${e.message}`));
  b.page.on('response', (r) => { if (r.status() >= 400) console.log(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`); });
  await b.page.goto(url);
  await b.page.waitForTimeout(Number(seconds) * 1000);
  await b.page.screenshot({ path: `${outdir}/${name}.png`, fullPage: name === 'laptop' });
  await b.close();
}
