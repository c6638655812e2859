// Bench section `web`: the demo's data-parallel training step in headless Chromium (the `syncbn web` page, Web Workers)
// and in Node (worker threads), same configuration, one run each; median step time after the warm-up steps.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWebServer } from '../src/cli/web-server.js';
import { runConfig } from '../src/demo/run-config.js';
import type { PageResult } from '../src/web/page.js';
import { findChromium, launchChromium } from '../test/helpers/chromium.js';
import { type Reporter, median } from './util.js';

/** 2 workers × 4 scenes of 64 px, width 16, SyncBN: 30 steps, the first 6 not counted (compilation, first touches). */
const CFG = { workers: 2, batch: 4, epochs: 1, train: 240, val: 8, size: 64, width: 16, seed: 0, lr: 0.003 };
const WARM = 6;

async function chromiumSteps(chromium: string): Promise<number[]> {
  const server = await startWebServer({ port: 0 });
  const profile = await mkdtemp(join(tmpdir(), 'syncbn-bench-chromium-'));
  const browser = await launchChromium(chromium, profile);
  try {
    const page = await browser.newPage();
    const q = new URLSearchParams(
      Object.entries({ ...CFG, norm: 'syncbn', gallery: 0, autostart: 1 }).map(([k, v]) => [k, String(v)]),
    );
    await page.goto(`${server.url}?${q}`, { waitUntil: 'load' });
    await page.waitForFunction("['done', 'failed'].includes(document.body.dataset.state)", { timeout: 600_000 });
    const r = (await page.evaluate('window.syncbnResult')) as PageResult;
    if (!r.ok) throw new Error(`the page's run failed: ${JSON.stringify(r.error)}`);
    return r.stepMs;
  } finally {
    await browser.close();
    await server.close();
    await rm(profile, { recursive: true, force: true });
  }
}

export async function run(rep: Reporter, _argv: string[]): Promise<void> {
  const chromium = findChromium();
  const { workers, batch, ...rest } = CFG;
  const note = `SegNet ${CFG.size}×${CFG.size}, width ${CFG.width}, ${workers} workers × ${batch}, SyncBN, AdamW`;
  const node = await runConfig(workers, { ...rest, norm: 'syncbn', batchPerWorker: batch, gallery: 0 });
  const nodeMs = median(node.stepMs.slice(WARM));
  rep.report('web/step_ms/node', nodeMs, 'ms', `${note}; worker threads`);
  if (chromium === null) {
    rep.say('(no chromium: the browser figure is skipped; install Debian chromium or set SYNCBN_CHROMIUM)');
    return;
  }
  const webMs = median((await chromiumSteps(chromium)).slice(WARM));
  rep.report('web/step_ms/chromium', webMs, 'ms', `${note}; Web Workers, headless Chromium`);
  rep.report('web/chromium_vs_node', webMs / nodeMs, 'x', 'target ≤ 1.5', 'ratio of medians');
}
