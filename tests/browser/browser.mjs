// SPDX-License-Identifier: MIT
// Launches Debian's chromium through playwright-core (installed by the build into
// ACS_BROWSER_NODE_MODULES): headless, no network of its own, a fresh profile every time.

import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const modules = process.env.ACS_BROWSER_NODE_MODULES;
if (!modules)
  throw new Error('ACS_BROWSER_NODE_MODULES is not set (the build installs playwright-core there)');
const require = createRequire(join(resolve(modules), 'noop.js'));
const { chromium } = require('playwright-core');

export const CHROMIUM = process.env.ACS_CHROMIUM || '/usr/bin/chromium';

// Returns { browser (a persistent context), page, close() }.
export async function launchBrowser({ width = 1440, height = 1000 } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'acs-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width, height },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const page = context.pages()[0] || await context.newPage();
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
