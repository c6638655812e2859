// writeReport: the table's numbers, one SVG per chart, valid gallery PNGs, a data-driven conclusion, escaping, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { IOError, ValueError } from '../../../src/errors.js';
import { IGNORE_COLOR, PALETTE, conclusion, summarize, writeReport } from '../../../src/demo/report/index.js';
import type { DemoNorm, DemoReport, GalleryItem } from '../../../src/demo/types.js';
import { renderSvg } from '../../../src/demo/report/charts.js';
import { type FixtureOptions, makeFixture } from './fixture.js';

const ROWS: Array<[DemoNorm, string]> = [
  ['bigbatch', 'Big batch (BN, 1 worker)'],
  ['syncbn', 'SyncBN'],
  ['bn', 'Per-worker BN'],
  ['groupnorm', 'GroupNorm'],
];

async function render(opts: FixtureOptions, edit?: (r: DemoReport, g: GalleryItem[]) => void) {
  const dir = await mkdtemp(join(tmpdir(), 'syncbn-report-'));
  const { report, gallery } = makeFixture(opts);
  edit?.(report, gallery);
  await writeReport(dir, report, gallery);
  return { dir, report, gallery, html: readFileSync(join(dir, 'index.html'), 'utf8') };
}

const unescape = (s: string): string =>
  s
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');

/** The results table as { row label → [miou text, pixel text] per column }, read from the HTML. */
function resultsCells(html: string): Map<string, string[][]> {
  const table = /<table class="results"[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/.exec(html);
  assert.ok(table, 'results table present');
  const out = new Map<string, string[][]>();
  for (const row of table[1].matchAll(/<tr>([\s\S]*?)<\/tr>/g)) {
    const label = unescape(/<th scope="row">([^<]*)/.exec(row[1])![1]);
    const cells = [...row[1].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) => {
      const miou = /class="cell-miou">([^<]*)</.exec(m[1]);
      const pix = /class="cell-pix">pixel acc\. ([^<]*)</.exec(m[1]);
      return miou && pix ? [miou[1], pix[1]] : [unescape(m[1])];
    });
    out.set(label, cells);
  }
  return out;
}

/** Independent mean ± sample SD (in %) over completed runs (interrupted ones only when none completed). */
function expectedCell(report: DemoReport, norm: DemoNorm, b: number): string[] | null {
  const runs = report.runs.filter((r) => r.config.norm === norm && r.config.globalBatch === 4 * b);
  if (runs.length === 0) return null;
  const complete = runs.filter((r) => r.final && !r.interrupted);
  const used = complete.length ? complete : runs.filter((r) => r.final);
  const fmt = (xs: number[]): string => {
    const m = xs.reduce((a, x) => a + x, 0) / xs.length;
    if (xs.length === 1) return (100 * m).toFixed(1);
    const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
    return `${(100 * m).toFixed(1)} ± ${(100 * sd).toFixed(1)}`;
  };
  const mark = complete.length ? '' : '†';
  return [fmt(used.map((r) => r.final!.miou)) + mark, fmt(used.map((r) => r.final!.pixelAccuracy))];
}

test('the table shows mean ± sample SD over seeds per norm and images per worker, like GN Table 2', async () => {
  const { dir, report, html } = await render({ interrupted: true, seeds: [1, 2, 3], missing: ['groupnorm/b1'] });
  try {
    const cells = resultsCells(html);
    assert.deepEqual(
      [...cells.keys()],
      ROWS.map((r) => r[1]),
    );
    for (const [norm, label] of ROWS) {
      [1, 2, 4].forEach((b, i) => {
        const want = expectedCell(report, norm, b);
        const got = cells.get(label)![i];
        if (want === null) assert.match(got[0], /not in this run/, `${label} b=${b}`);
        else assert.deepEqual(got, want, `${label} b=${b}`);
      });
    }
    // Interrupted runs: one cell averages only its completed seeds, and says so.
    assert.match(html, /2 of 3 seeds/);
    assert.ok(!/NaN|undefined|Infinity/.test(html), 'no NaN/undefined in the page');
    // Columns are images per worker, with the global batch under each.
    assert.match(html, /<th scope="col">1<span class="sub">global batch 4<\/span><\/th>/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a cell of only interrupted runs is flagged †; a run with final: null counts as no epoch', async () => {
  const { dir, report, html } = await render({ interrupted: true, seeds: [1] });
  try {
    const cells = resultsCells(html);
    assert.match(cells.get('Per-worker BN')![2][0], /no epoch finished/);
    assert.equal(cells.get('GroupNorm')![2][0], expectedCell(report, 'groupnorm', 4)![0]);
    assert.ok(cells.get('GroupNorm')![2][0].endsWith('†'));
    assert.match(html, /† only runs that stopped before their last epoch/);
    assert.match(html, /stopped in epoch 1/);
    assert.match(html, /stopped at 2\/6/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('one SVG file per chart, each referenced by an img with alt text and drawing its marks', async () => {
  const { dir, html } = await render({});
  try {
    const imgs = [...html.matchAll(/<img class="chart" src="([^"]+)" width="(\d+)" height="(\d+)" alt="([^"]+)"/g)];
    assert.deepEqual(
      imgs.map((m) => m[1]),
      ['charts/chart-miou-vs-batch.svg', 'charts/chart-miou-per-epoch.svg', 'charts/chart-loss-per-epoch.svg'],
    );
    assert.deepEqual(readdirSync(join(dir, 'charts')).sort(), imgs.map((m) => m[1].slice(7)).sort());
    for (const m of imgs) {
      const svg = readFileSync(join(dir, m[1]), 'utf8');
      assert.ok(svg.startsWith('<svg'), m[1]);
      assert.ok(Number(m[2]) > 100 && Number(m[3]) > 100, `${m[1]} size ${m[2]}×${m[3]}`);
      for (const [, label] of ROWS) assert.ok(svg.includes(`>${label}<`), `${m[1]} legend names ${label}`);
      // One line per norm (vs batch) or per run (per epoch): 4 norms × 3 batches × 2 seeds = 24 runs.
      const lines = (svg.match(/<path[^>]*d="M/g) ?? []).length;
      assert.ok(lines >= (m[1].includes('vs-batch') ? 4 : 24), `${m[1]} has ${lines} paths`);
      assert.ok(m[4].length > 40, 'alt text describes the chart');
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('every gallery image exists, is a valid PNG of the scene size, and shows the palette', async () => {
  const { dir, html, gallery } = await render({ size: 24, scenes: 2 });
  try {
    const srcs = [...html.matchAll(/<img class="px" src="([^"]+)"[^>]*alt="([^"]+)"/g)];
    const perScene = 2 + Object.keys(gallery[0].predictions).length;
    assert.equal(Object.keys(gallery[0].predictions).length, 12);
    assert.equal(srcs.length, 2 * perScene);
    for (const [, src, alt] of srcs) {
      const png = PNG.sync.read(readFileSync(join(dir, src)));
      assert.equal(png.width, 24, src);
      assert.equal(png.height, 24, src);
      assert.ok(alt.length > 10, src);
    }
    const item = gallery[0];
    const truth = PNG.sync.read(readFileSync(join(dir, `gallery/scene-${item.index}-truth.png`)));
    const input = PNG.sync.read(readFileSync(join(dir, `gallery/scene-${item.index}-input.png`)));
    let ignored = 0;
    for (let i = 0; i < 24 * 24; i++) {
      const want = item.label[i] === 255 ? IGNORE_COLOR : PALETTE[item.label[i]];
      assert.deepEqual([...truth.data.subarray(4 * i, 4 * i + 3)], [...want], `truth pixel ${i}`);
      assert.equal(input.data[4 * i], Math.round(255 * Math.min(1, Math.max(0, item.image[i]))), `input pixel ${i}`);
      if (item.label[i] === 255) ignored++;
    }
    assert.ok(ignored > 0, 'the fixture has ignore pixels');
    assert.match(html, /255 · ignored/);
    for (let c = 0; c < 11; c++) {
      assert.ok(html.includes(`background:#${PALETTE[c].map((v) => v.toString(16).padStart(2, '0')).join('')}`));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the conclusion follows the numbers: the expected effect vs its absence give different verdicts', async () => {
  const good = makeFixture({ outcome: 'expected' }).report;
  const bad = makeFixture({ outcome: 'reversed' }).report;
  const a = conclusion(summarize(good), false);
  const b = conclusion(summarize(bad), false);
  assert.notEqual(a, b);
  assert.match(a, /This is the effect the Group Norm paper reports/);
  assert.doesNotMatch(a, /do not show/);
  assert.match(b, /The data do not show the expected effect/);
  // The gap it names is the difference of the means at b = 1, computed here independently.
  const mean = (r: DemoReport, n: DemoNorm): number => {
    const xs = r.runs.filter((x) => x.config.norm === n && x.config.batchPerWorker === (n === 'bigbatch' ? 4 : 1));
    return xs.reduce((s, x) => s + x.final!.miou, 0) / xs.length;
  };
  const gap = (100 * Math.abs(mean(bad, 'syncbn') - mean(bad, 'bigbatch'))).toFixed(1);
  assert.ok(b.includes(`SyncBN is ${gap} points below the big batch`), b);
  assert.ok(b.includes('per-worker BN is not clearly below SyncBN'), b);
  assert.doesNotMatch(a, /close to its untrained state/);
  // Barely trained models: the paragraph says the comparison is premature, with the best mIoU it saw.
  const early = makeFixture({ outcome: 'expected' }).report;
  for (const r of early.runs) r.final!.miou *= 0.2;
  const e = conclusion(summarize(early), false);
  const best = Math.max(...early.runs.map((r) => r.final!.miou));
  assert.match(e, /Every configuration is still close to its untrained state \(best mIoU (\d+\.\d) %\)/);
  assert.ok(Number(/best mIoU (\d+\.\d)/.exec(e)![1]) <= 100 * best + 0.05, e);
  const gapGood = (100 * (mean(good, 'syncbn') - mean(good, 'bigbatch'))).toFixed(1);
  assert.ok(a.includes(`a gap of ${gapGood.startsWith('-') ? `−${gapGood.slice(1)}` : `+${gapGood}`} points`), a);
  // The page carries the same paragraph.
  const { dir, html } = await render({ outcome: 'reversed' });
  try {
    const p = /<p class="finding" id="findings-text">([\s\S]*?)<\/p>/.exec(html)![1];
    assert.equal(unescape(p), b);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a partial report says so at the top; missing configurations leave the verdict open', async () => {
  const { dir, html } = await render({
    partial: true,
    missing: ['bigbatch/b1', 'bigbatch/b2', 'bigbatch/b4', 'groupnorm/b4'],
  });
  try {
    const top = html.slice(0, html.indexOf('id="findings"'));
    assert.match(top, /Partial report/);
    assert.match(html, /Preliminary: the grid is still running \(16 of 16 runs/);
    assert.match(html, /cannot be judged yet/);
    assert.equal(resultsCells(html).get('GroupNorm')![2][0], '—not run yet');
    assert.ok(!resultsCells(html).has('Big batch (BN, 1 worker)'), 'a norm without runs has no row');
    assert.match(html, /the big batch has no finished run to compare with/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const full = await render({});
  try {
    assert.doesNotMatch(full.html, /Partial report|Preliminary|†/);
  } finally {
    await rm(full.dir, { recursive: true, force: true });
  }
});

test('an empty grid still writes a readable page', async () => {
  const { dir, html } = await render({ norms: [], scenes: 0 });
  try {
    assert.match(html, /No configuration has been run yet/);
    assert.match(html, /nothing to compare/);
    assert.match(html, /No validation scenes/);
    assert.equal(readdirSync(join(dir, 'charts')).length, 3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('settings are HTML-escaped (keys and values), and the page has no script', async () => {
  const evil = '</td><script>alert("x")</script><img src=x onerror=alert(1)>&\'';
  const { dir, html } = await render({}, (r) => {
    r.settings = { ...r.settings, out: evil, [`<b onclick="x">key</b>`]: [1, 2], flag: true };
    r.machine.cpus = '<i>cpu</i>';
  });
  try {
    assert.ok(!html.includes('<script'), 'no script element');
    assert.ok(!html.includes('onerror=alert') || html.includes('&lt;img src=x onerror=alert(1)&gt;'));
    assert.ok(
      html.includes(
        '&lt;/td&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&amp;&#39;',
      ),
    );
    assert.ok(html.includes('&lt;b onclick=&quot;x&quot;&gt;key&lt;/b&gt;'));
    assert.ok(html.includes('&lt;i&gt;cpu&lt;/i&gt;'));
    assert.ok(!html.includes('<b onclick') && !html.includes('<i>cpu'));
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('rewriting replaces files atomically and removes pictures the new page no longer shows', async () => {
  const first = await render({ scenes: 3 });
  try {
    const { report, gallery } = makeFixture({ scenes: 1 });
    await writeReport(first.dir, report, gallery);
    const files = readdirSync(join(first.dir, 'gallery'));
    assert.equal(files.length, 2 + 12);
    assert.ok(
      files.every((f) => f.startsWith(`scene-${gallery[0].index}-`)),
      files.join(' '),
    );
    const all = [...readdirSync(first.dir), ...files, ...readdirSync(join(first.dir, 'charts'))];
    assert.ok(
      all.every((f) => !f.includes('.tmp-')),
      'no temp files left',
    );
    const html = readFileSync(join(first.dir, 'index.html'), 'utf8');
    for (const m of html.matchAll(/src="([^"]+)"/g)) assert.ok(existsSync(join(first.dir, m[1])), m[1]);
  } finally {
    await rm(first.dir, { recursive: true, force: true });
  }
});

test('malformed input is rejected before anything is written, naming the field', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'syncbn-report-'));
  const rejects = (fn: () => Promise<void>, cls: new (...a: never[]) => Error, message: string | RegExp) =>
    assert.rejects(fn, (e: unknown) => {
      assert.ok(e instanceof cls, `${(e as Error).constructor.name}: ${(e as Error).message}`);
      if (typeof message === 'string') assert.equal(e.message, message);
      else assert.match(e.message, message);
      return true;
    });
  try {
    const f = () => makeFixture({ scenes: 1, size: 8 });
    const a = f();
    (a.report.runs[0].config as { norm: string }).norm = 'batchnorm';
    await rejects(
      () => writeReport(dir, a.report, a.gallery),
      ValueError,
      'writeReport: report.runs[0].config.norm must be one of bigbatch, syncbn, bn, groupnorm, received "batchnorm"',
    );
    const b = f();
    b.report.runs[1].config.globalBatch = 5;
    await rejects(
      () => writeReport(dir, b.report, b.gallery),
      ValueError,
      'writeReport: report.runs[1].config.globalBatch must equal workers × batchPerWorker = 4, received 5',
    );
    const c = f();
    c.gallery[0].predictions['syncbn/4'] = new Uint8Array(64);
    await rejects(
      () => writeReport(dir, c.report, c.gallery),
      ValueError,
      /prediction keys must look like "<norm>\/b<images per worker>" .*received "syncbn\/4"$/,
    );
    const d = f();
    d.gallery[0].label = new Uint8Array(63);
    await rejects(
      () => writeReport(dir, d.report, d.gallery),
      ValueError,
      'writeReport: gallery[0].label must hold size² = 64 values, received Uint8Array(length 63)',
    );
    const e = f();
    e.gallery[0].predictions['bn/b1'][5] = 11;
    await rejects(
      () => writeReport(dir, e.report, e.gallery),
      ValueError,
      'writeReport: gallery[0].predictions["bn/b1"][5] must be 0–10, received 11',
    );
    const g = f();
    g.report.runs[0].final!.miou = Number.NaN;
    await rejects(
      () => writeReport(dir, g.report, g.gallery),
      ValueError,
      'writeReport: report.runs[0].final.miou must be a number in [0, 1], received NaN',
    );
    assert.deepEqual(readdirSync(dir), [], 'nothing written');
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const h = f();
    await rejects(
      () => writeReport(file, h.report, h.gallery),
      IOError,
      /^writeReport: could not create ".*a-file\/gallery"/,
    );
    await rejects(
      () => writeReport('', h.report, h.gallery),
      ValueError,
      'writeReport: dir must be a non-empty path, received ""',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('chart rendering prints nothing, even for a spec Vega-Lite warns about (the demo owns the terminal)', async () => {
  const said: string[] = [];
  const saved = { log: console.log, warn: console.warn, error: console.error, info: console.info };
  for (const k of ['log', 'warn', 'error', 'info'] as const)
    console[k] = (...a: unknown[]) => void said.push(a.join(' '));
  try {
    const svg = await renderSvg({
      data: { values: [{ x: 1, y: 2 }] },
      mark: 'point',
      encoding: {
        x: { field: 'x', type: 'quantitative' },
        y: { field: 'y', type: 'quantitative', scale: { type: 'log', zero: false } },
      },
    });
    assert.ok(svg.startsWith('<svg'));
  } finally {
    Object.assign(console, saved);
  }
  assert.deepEqual(said, []);
});
