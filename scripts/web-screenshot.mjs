// Take docs/img/web.png: a real run of the `syncbn web` page in headless Chromium (after `npm run build`).
// Usage: node scripts/web-screenshot.mjs [out.png]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWebServer } from '../dist/src/cli/web-server.js';
import { findChromium, launchChromium } from '../dist/test/helpers/chromium.js';

const out = process.argv[2] ?? 'docs/img/web.png';
const chromium = findChromium();
if (chromium === null) throw new Error('no chromium (apt-get install chromium, or set SYNCBN_CHROMIUM)');
const server = await startWebServer({ port: 0 });
const profile = await mkdtemp(join(tmpdir(), 'syncbn-shot-'));
const browser = await launchChromium(chromium, profile);
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 900 });
  const q = 'autostart=1&workers=2&batch=4&epochs=4&train=1024&val=128&size=48&width=16&seed=0&gallery=6';
  await page.goto(`${server.url}?${q}`, { waitUntil: 'load' });
  await page.waitForFunction("['done', 'failed'].includes(document.body.dataset.state)", { timeout: 600_000 });
  const r = await page.evaluate('window.syncbnResult');
  if (!r.ok) throw new Error(`the run failed: ${JSON.stringify(r.error)}`);
  await writeFile(out, await page.screenshot({ fullPage: true, type: 'png' }));
  const last = r.epochs.at(-1);
  console.log(`wrote ${out}: ${r.stepMs.length} steps, val mIoU ${last.miou.toFixed(3)}`);
} finally {
  await browser.close();
  await server.close();
  await rm(profile, { recursive: true, force: true });
}
