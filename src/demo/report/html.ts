// HTML of the report: escaping, the Table-2-style results table, the runs and settings tables, the page shell.
import type { DemoNorm, DemoReport, RunResult } from '../types.js';
import type { Chart } from './charts.js';
import { findings } from './conclusion.js';
import { galleryHtml } from './gallery-html.js';
import { artifactsHtml } from './artifacts-html.js';
import type { Scene } from './gallery.js';
import { esc } from './escape.js';
import { STYLE } from './style.js';
import {
  type Cell,
  type Stat,
  type Summary,
  NORM_LABEL,
  NORM_SHORT,
  columnLabel,
  pct,
  signedPoints,
} from './summary.js';

/** Seconds in words: 42.3 → "42 s", 754 → "12 min 34 s", 7300 → "2 h 1 min". */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** A number for a table: finite numbers to `digits` decimals, anything else an em dash. */
function num(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '—';
}

function meanSd(s: Stat): string {
  return s.n > 1 ? `${pct(s.mean)} ± ${pct(s.sd)}` : pct(s.mean);
}

function rowHeader(norm: DemoNorm, workers: number | null): string {
  const shape = norm === 'bigbatch' ? `1 worker × ${workers ?? 'N'}·b images` : `${workers ?? 'N'} workers × b images`;
  return `<th scope="row">${esc(NORM_LABEL[norm])}<span class="sub">${esc(shape)}</span></th>`;
}

function cellHtml(cell: Cell | null, maxSeeds: number, partial: boolean): string {
  if (!cell) return `<td class="missing">—<span class="sub">${partial ? 'not run yet' : 'not in this run'}</span></td>`;
  if (!cell.miou || !cell.pixelAccuracy) return '<td class="missing">…<span class="sub">no epoch finished</span></td>';
  const mark = cell.includesInterrupted ? '†' : '';
  const seeds = cell.miou.n < maxSeeds ? ` <span class="sub">${cell.miou.n} of ${maxSeeds} seeds</span>` : '';
  return (
    `<td><span class="cell-miou">${meanSd(cell.miou)}${mark}</span>` +
    `<span class="cell-pix">pixel acc. ${meanSd(cell.pixelAccuracy)}</span>${seeds}</td>`
  );
}

/** Difference of two rows' mean mIoU per column, in points (the paper's "GN − BN" line). */
function diffRow(summary: Summary, a: DemoNorm, b: DemoNorm): string | null {
  const tds = summary.columns.map((_, i) => {
    const [x, y] = [summary.cells[a][i]?.miou, summary.cells[b][i]?.miou];
    if (!x || !y) return '<td>—</td>';
    return `<td>${signedPoints(x.mean - y.mean)}</td>`;
  });
  if (tds.every((t) => t === '<td>—</td>')) return null;
  return `<tr><th scope="row">${esc(`${NORM_SHORT[a]} − ${NORM_SHORT[b]}`)}</th>${tds.join('')}</tr>`;
}

/** The results table laid out like Table 2 of Wu & He (Group Normalization): rows = norm, columns = b. */
export function resultsTable(summary: Summary, partial = false): string {
  if (summary.columns.length === 0) return '<p>No configuration has been run yet.</p>';
  const maxSeeds = Math.max(1, ...summary.norms.flatMap((n) => summary.cells[n].map((c) => c?.runs.length ?? 0)));
  const head = summary.columns
    .map(
      (c) => `<th scope="col">${esc(columnLabel(c))}` + `<span class="sub">global batch ${c.globalBatch}</span></th>`,
    )
    .join('');
  const body = summary.norms
    .map(
      (n) =>
        `<tr>${rowHeader(n, summary.workers)}` +
        `${summary.cells[n].map((c) => cellHtml(c, maxSeeds, partial)).join('')}</tr>`,
    )
    .join('\n');
  const foot = [
    diffRow(summary, 'syncbn', 'bigbatch'),
    diffRow(summary, 'syncbn', 'bn'),
    diffRow(summary, 'groupnorm', 'bn'),
  ].filter((r) => r !== null);
  const perWorker = summary.columns.every((c) => c.perWorker !== null);
  const flagged = summary.norms.some((n) => summary.cells[n].some((c) => c?.includesInterrupted));
  const dagger = flagged ? ' † only runs that stopped before their last epoch.' : '';
  return `<div class="scroll"><table class="results" id="results-table">
<caption>Validation mIoU (%) by normalization and ${perWorker ? 'images per worker' : 'global batch'}</caption>
<thead><tr><th scope="col" rowspan="2" class="left">normalization</th><th scope="colgroup" colspan="${
    summary.columns.length
  }" class="group">${perWorker ? 'images per worker' : 'global batch'}</th></tr>
<tr>${head}</tr></thead>
<tbody>
${body}
</tbody>${foot.length ? `\n<tfoot>${foot.join('')}</tfoot>` : ''}
</table></div>
<p class="note">Rows: normalization; columns: ${perWorker ? 'images per worker b' : 'global batch'}. Each cell: val
mIoU over 11 classes (eval mode), mean ± sample standard deviation over seeds, with pixel accuracy (%) below it.
Difference rows in mIoU points.${dagger}</p>`;
}

function status(r: RunResult): string {
  if (r.final === null) return r.interrupted ? 'stopped in epoch 1' : 'no epoch yet';
  return r.interrupted ? `stopped at ${r.epochs.length}/${r.config.epochs}` : 'finished';
}

const NORM_ORDER: readonly DemoNorm[] = ['bigbatch', 'syncbn', 'bn', 'groupnorm'];

/** Every run: configuration, seed, status, final metrics, wall time, step time and throughput. */
export function runsTable(report: DemoReport): string {
  const runs = [...report.runs].sort(
    (a, b) =>
      a.config.globalBatch - b.config.globalBatch ||
      NORM_ORDER.indexOf(a.config.norm) - NORM_ORDER.indexOf(b.config.norm) ||
      a.config.seed - b.config.seed,
  );
  const rows = runs.map((r) => {
    const f = r.final;
    const t = r.timings;
    const c = r.config;
    const tds = [
      `${c.workers} × ${c.batchPerWorker}`,
      String(c.seed),
      status(r),
      f ? pct(f.miou) : '—',
      f ? pct(f.pixelAccuracy) : '—',
      f ? num(f.valLoss, 3) : '—',
      duration(t.wallSeconds),
      num(t.stepMsMedian, 1),
      num(t.imagesPerSec, 1),
    ].map((v, i) => `<td${i === 2 ? ' class="left"' : ''}>${esc(v)}</td>`);
    return `<tr><th scope="row">${esc(NORM_SHORT[c.norm])}</th>${tds.join('')}</tr>`;
  });
  return `<div class="scroll"><table id="runs-table" class="runs">
<caption>Every run of the grid</caption>
<thead><tr><th scope="col" class="left">normalization</th><th scope="col">workers × b</th><th scope="col">seed</th>
<th scope="col" class="left">status</th><th scope="col">mIoU (%)</th><th scope="col">pix. acc. (%)</th>
<th scope="col">val loss</th><th scope="col">wall time</th><th scope="col">step (ms)</th><th scope="col">images/s</th>
</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table></div>
<p class="note">Workers × images per worker; status: finished, or stopped at epochs done/planned; step: median
milliseconds of one training step, all workers in parallel; images/s: training throughput over all workers.</p>`;
}

function settingValue(v: string | number | boolean | number[]): string {
  if (Array.isArray(v)) return v.join(', ');
  return String(v);
}

/** A two-column key/value table (every key and value escaped). */
function kvTable(id: string, caption: string, entries: Array<[string, string]>): string {
  const rows = entries.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n');
  return `<div class="scroll"><table class="kv" id="${id}"><caption>${esc(caption)}</caption><tbody>
${rows}
</tbody></table></div>`;
}

/** Settings, machine and versions. */
export function environmentHtml(report: DemoReport): string {
  const m = report.machine;
  const v = report.versions;
  return `<div class="kvs">${[
    kvTable(
      'settings-table',
      'Settings of this run (every option as parsed, and dataset sizes)',
      Object.entries(report.settings).map(([k, x]) => [k, settingValue(x)]),
    ),
    kvTable('machine-table', 'Machine', [
      ['CPU', m.cpus],
      ['cores', String(m.cores)],
      ['memory', `${num(m.memoryGiB, 1)} GiB`],
      ['platform', m.platform],
    ]),
    kvTable('versions-table', 'Versions', [
      ['syncbn', v.syncbn],
      ['Node.js', v.node],
      ['V8', v.v8],
    ]),
  ].join('\n')}</div>`;
}

/** The page loads only its own pictures and inline CSS: no script, no network (defence in depth on escaping). */
const CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'";

/** An ISO time as "2026-12-03 09:00 UTC"; anything unparsable as given. */
function when(iso: string): string {
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? iso : `${t.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The findings paragraph with its verdict sentence in bold. */
function findingsHtml(summary: Summary, partial: boolean): string {
  const f = findings(summary, partial);
  return f.sentences.map((s, i) => (i === f.verdict ? `<strong>${esc(s)}</strong>` : esc(s))).join(' ');
}

function chartFigure(c: Chart, file: string): string {
  const size = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(c.svg);
  const wh = size ? ` width="${Math.round(Number(size[1]))}" height="${Math.round(Number(size[2]))}"` : '';
  return (
    `<figure id="${c.id}"><img class="chart" src="${esc(file)}"${wh} alt="${esc(c.description)}">` +
    `<figcaption>${esc(c.title)}. ${esc(c.description)}</figcaption></figure>`
  );
}

/** The whole page. `chartFile(id)` and each picture's `file` are paths relative to index.html. */
export function pageHtml(
  report: DemoReport,
  summary: Summary,
  charts: Chart[],
  scenes: Scene[],
  chartFile: (id: string) => string,
): string {
  const byId = new Map(charts.map((c) => [c.id, c]));
  const fig = (id: string): string => (byId.has(id) ? chartFigure(byId.get(id)!, chartFile(id)) : '');
  const banner = report.partial
    ? `<p class="banner" role="status"><strong>Partial report.</strong> The grid had not finished when this page ` +
      `was written (${summary.finishedRuns} of ${summary.totalRuns} runs listed so far are complete); the page is ` +
      'rewritten after each configuration, and missing cells show —.</p>'
    : '';
  const started = report.startedAt ? `Started ${esc(when(report.startedAt))} · ` : '';
  const title = 'SyncBN demo: segmentation of handwritten digits with few images per worker';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header>
<h1>${esc(title)}</h1>
<p class="meta">${started}wall time ${esc(duration(report.wallSeconds))} · syncbn ${esc(report.versions.syncbn)}</p>
${banner}
<nav aria-label="Sections"><ul><li><a href="#findings">Findings</a></li><li><a href="#results">Results</a></li>
<li><a href="#curves">Training curves</a></li><li><a href="#gallery">Gallery</a></li><li><a href="#runs">Runs</a></li>
<li><a href="#setup">Settings &amp; machine</a></li></ul></nav>
</header>
<section id="findings" aria-labelledby="findings-h"><h2 id="findings-h">What the numbers show</h2>
<p class="finding" id="findings-text">${findingsHtml(summary, report.partial)}</p>
</section>
<section id="results" aria-labelledby="results-h"><h2 id="results-h">Results</h2>
<p>Each column trains with the same number of images per step: N workers × b images (SyncBN, per-worker BN,
GroupNorm) or one worker with all N·b images (big batch, the reference SyncBN must match). Validation uses running
statistics (eval mode), as deployment would.</p>
${resultsTable(summary, report.partial)}
${fig('chart-miou-vs-batch')}
${artifactsHtml(report.artifacts)}
</section>
<section id="curves" aria-labelledby="curves-h"><h2 id="curves-h">Training curves</h2>
${fig('chart-miou-per-epoch')}
${fig('chart-loss-per-epoch')}
</section>
<section id="gallery" aria-labelledby="gallery-h"><h2 id="gallery-h">Gallery of validation scenes</h2>
${galleryHtml(scenes, summary)}
</section>
<section id="runs" aria-labelledby="runs-h"><h2 id="runs-h">Runs</h2>
${runsTable(report)}
</section>
<section id="setup" aria-labelledby="setup-h"><h2 id="setup-h">Settings, machine and versions</h2>
${environmentHtml(report)}
</section>
<footer><p>Written by syncbn ${esc(report.versions.syncbn)}. Charts: Vega-Lite, rendered to static SVG; pictures:
PNG. The page needs no network and runs no script.</p></footer>
</main>
</body>
</html>
`;
}
