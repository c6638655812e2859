// Real browser: the system chromium (headless, puppeteer-core) opens index.html offline and renders all of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import type { Browser } from 'puppeteer-core';
import { writeReport } from '../../../src/demo/report/index.js';
import { makeFixture } from './fixture.js';
import { browserRequired, findChromium, launchChromium, pixelStats } from '../../helpers/chromium.js';

const required = browserRequired;
const chromium = findChromium();
const launch = (userDataDir: string): Promise<Browser> => launchChromium(chromium!, userDataDir);

/** What INSPECT returns from the page. */
interface Inspection {
  title: string;
  imgs: Array<{ src: string; cls: string; ok: boolean; w: number; h: number; alt: string }>;
  scripts: number;
  caption: string;
  note: string;
}

/** Runs in the page (passed as a string, so it runs there and not in Node): every image's state and layout. */
const INSPECT = `(() => ({
  title: document.title,
  imgs: [...document.images].map((i) => {
    const r = i.getBoundingClientRect();
    return { src: i.getAttribute('src'), cls: i.className, ok: i.complete && i.naturalWidth > 0 && i.naturalHeight > 0,
      w: r.width, h: r.height, alt: i.alt };
  }),
  scripts: document.scripts.length,
  caption: document.querySelector('table.results caption')?.textContent ?? '',
  note: document.querySelector('#results .note')?.textContent ?? '',
}))()`;

test(
  'chromium renders the report offline: no console errors, every chart and picture drawn, a non-blank page',
  {
    timeout: 300_000,
  },
  async (t) => {
    if (!chromium) {
      const why = 'no chromium found (apt-get install chromium, or set SYNCBN_CHROMIUM)';
      if (required) assert.fail(`the real-browser test must run in CI: ${why}`);
      console.log(`# skipping the real-browser report test: ${why}`);
      t.skip(why);
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'syncbn-report-browser-'));
    const profile = await mkdtemp(join(tmpdir(), 'syncbn-chromium-profile-'));
    let browser: Browser | null = null;
    try {
      const { report, gallery } = makeFixture({ interrupted: true, partial: true, scenes: 3, size: 48 });
      report.settings.note = '<script>document.title="pwned"</script>';
      await writeReport(dir, report, gallery);
      browser = await launch(profile);
      const page = await browser.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warn') problems.push(`console.${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
      page.on('request', (r) => requests.push(r.url()));
      await page.setViewport({ width: 1100, height: 900 });
      const url = pathToFileURL(join(dir, 'index.html')).href;
      const res = await page.goto(url, { waitUntil: 'load', timeout: 120_000 });
      assert.ok(res === null || res.ok(), 'the page loads');
      const seen = (await page.evaluate(INSPECT)) as Inspection;
      assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
      const foreign = requests.filter((u) => !u.startsWith('file://') && !u.startsWith('data:'));
      assert.deepEqual(foreign, [], 'the page fetches nothing from the network');
      assert.equal(seen.scripts, 0, 'no script ran (the hostile setting stayed text)');
      assert.doesNotMatch(seen.title, /pwned/);
      assert.match(seen.caption, /^Validation mIoU \(%\) by normalization and images per worker$/);
      assert.match(seen.note, /mean ± sample standard deviation over seeds/);
      const charts = seen.imgs.filter((i) => i.cls === 'chart');
      const pictures = seen.imgs.filter((i) => i.cls === 'px');
      assert.equal(charts.length, 3);
      assert.equal(pictures.length, 3 * (2 + Object.keys(gallery[0].predictions).length));
      for (const i of seen.imgs) {
        assert.ok(i.ok, `${i.src} decoded`);
        assert.ok(i.w > 0 && i.h > 0, `${i.src} laid out at ${i.w}×${i.h}`);
        assert.ok(i.alt.length > 0, `${i.src} has alt text`);
      }
      for (const c of charts) assert.ok(c.w >= 300 && c.h >= 150, `${c.src} drawn at ${c.w}×${c.h}`);
      const shot = PNG.sync.read(Buffer.from(await page.screenshot({ fullPage: true, type: 'png' })));
      const s = pixelStats(shot);
      assert.ok(shot.height > 2000, `full page is ${shot.height} px tall`);
      assert.ok(
        s.variance > 200 && s.inked > 0.03,
        `screenshot not blank: luminance variance ${s.variance.toFixed(0)}, ` + `${(100 * s.inked).toFixed(1)} % inked`,
      );
      if (process.env.SYNCBN_REPORT_SCREENSHOT) {
        writeFileSync(process.env.SYNCBN_REPORT_SCREENSHOT, PNG.sync.write(shot));
      }
      // A phone-width viewport: the page itself never scrolls sideways (wide tables scroll inside their box).
      await page.setViewport({ width: 375, height: 800 });
      const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
      assert.ok(overflow <= 0, `page overflows a 375 px screen by ${overflow} px`);
      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
      await rm(dir, { recursive: true, force: true });
      await rm(profile, { recursive: true, force: true });
    }
  },
);
