// The report's charts: Vega-Lite specs rendered to static SVG in Node (no browser, no canvas, no JS on the page).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { DemoNorm, DemoReport } from '../types.js';
import { NORMS, NORM_LABEL, type Summary } from './summary.js';

/** One rendered chart: an id (its file is charts/<id>.svg), its title, a text alternative, and the SVG markup. */
export interface Chart {
  id: string;
  title: string;
  /** What the chart shows, for screen readers and as the figure's caption. */
  description: string;
  svg: string;
}

/** Colour per normalization (shared by every chart): the big-batch reference grey and dashed. */
const COLOR: Readonly<Record<DemoNorm, string>> = {
  bigbatch: '#6b6b6b',
  syncbn: '#1f77b4',
  bn: '#d62728',
  groupnorm: '#2ca02c',
};
const DASH: Readonly<Record<DemoNorm, number[]>> = { bigbatch: [6, 3], syncbn: [1, 0], bn: [1, 0], groupnorm: [2, 2] };
const SHAPE: Readonly<Record<DemoNorm, string>> = {
  bigbatch: 'square',
  syncbn: 'circle',
  bn: 'triangle-down',
  groupnorm: 'diamond',
};

/** Encodings that give every chart the same legend: colour, dash and point shape by normalization. */
function normEncodings(norms: readonly DemoNorm[]): Record<string, unknown> {
  const domain = norms.map((n) => NORM_LABEL[n]);
  const legend = { title: null, orient: 'bottom', direction: 'horizontal', columns: 2, labelLimit: 260 };
  return {
    color: {
      field: 'norm',
      type: 'nominal',
      sort: domain,
      scale: { domain, range: norms.map((n) => COLOR[n]) },
      legend,
    },
    strokeDash: {
      field: 'norm',
      type: 'nominal',
      sort: domain,
      scale: { domain, range: norms.map((n) => DASH[n]) },
      legend,
    },
    shape: {
      field: 'norm',
      type: 'nominal',
      sort: domain,
      scale: { domain, range: norms.map((n) => SHAPE[n]) },
      legend,
    },
  };
}

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  background: 'white',
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#e6e6e6' },
  legend: { labelFontSize: 12, symbolStrokeWidth: 2 },
  header: { labelFontSize: 12, titleFontSize: 12 },
  view: { stroke: '#cccccc' },
};

/** Compile a Vega-Lite spec and render it headlessly to an SVG string with an accessible description. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec, { logger: vega.logger(vega.Error) }).spec), {
    renderer: 'none',
    logLevel: vega.Error,
  });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Val mIoU (%) against images per worker, one line per normalization, error bars = ± sample SD over seeds. */
export async function miouVsBatchChart(summary: Summary): Promise<Chart> {
  const rows: Array<Record<string, unknown>> = [];
  for (const norm of summary.norms) {
    summary.columns.forEach((col, i) => {
      const m = summary.cells[norm][i]?.miou;
      if (!m) return;
      const x = col.perWorker ?? col.globalBatch;
      rows.push({
        norm: NORM_LABEL[norm],
        x,
        mean: 100 * m.mean,
        lo: 100 * (m.mean - m.sd),
        hi: 100 * (m.mean + m.sd),
      });
    });
  }
  const xs = summary.columns.map((c) => c.perWorker ?? c.globalBatch);
  const xTitle = summary.columns.every((c) => c.perWorker !== null) ? 'images per worker' : 'global batch';
  const description =
    `Validation mIoU (percent, mean over seeds, bars ± one standard deviation) against ${xTitle} ` +
    `(${xs.join(', ')}) for ${summary.norms.map((n) => NORM_LABEL[n]).join(', ')}.`;
  const x = { field: 'x', type: 'ordinal', title: xTitle, sort: xs, scale: { domain: xs }, axis: { labelAngle: 0 } };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description,
    width: 520,
    height: 300,
    config: CONFIG,
    data: { values: rows },
    encoding: { x },
    layer: [
      {
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: {
          y: { field: 'lo', type: 'quantitative' },
          y2: { field: 'hi' },
          color: normEncodings(summary.norms).color,
        },
      },
      {
        mark: { type: 'line', point: { size: 60, filled: true }, strokeWidth: 2 },
        encoding: {
          y: { field: 'mean', type: 'quantitative', title: 'val mIoU (%)', scale: { zero: false } },
          ...normEncodings(summary.norms),
        },
      },
    ],
  } as unknown as TopLevelSpec;
  return {
    id: 'chart-miou-vs-batch',
    title: 'Val mIoU against images per worker',
    description,
    svg: await renderSvg(spec),
  };
}

/** One metric per epoch for every run: a panel per column of the grid, a line per run coloured by normalization. */
async function perEpochChart(report: DemoReport, summary: Summary, metric: 'miou' | 'trainLoss'): Promise<Chart> {
  const percent = metric === 'miou';
  const rows: Array<Record<string, unknown>> = [];
  for (const run of report.runs) {
    const col = summary.columns.find((c) => c.globalBatch === run.config.globalBatch)!;
    const panel =
      col.perWorker !== null
        ? `${col.perWorker} image${col.perWorker === 1 ? '' : 's'} per worker`
        : `global batch ${col.globalBatch}`;
    for (const e of run.epochs) {
      const v = percent ? 100 * e.miou : e.trainLoss;
      if (!Number.isFinite(v)) continue;
      rows.push({
        norm: NORM_LABEL[run.config.norm],
        panel,
        order: col.globalBatch,
        seed: run.config.seed,
        epoch: e.epoch,
        v,
      });
    }
  }
  const norms = NORMS.filter((n) => report.runs.some((r) => r.config.norm === n && r.epochs.length > 0));
  const label = percent ? 'val mIoU (%)' : 'train loss';
  const panels = [...new Map(rows.map((r) => [r.panel as string, r.order as number]))].sort((a, b) => a[1] - b[1]);
  const description =
    `${percent ? 'Validation mIoU (percent)' : 'Training loss'} after each epoch, one line per run ` +
    `(normalization and seed), one panel per ${panels.map((p) => p[0]).join(', ') || 'configuration'}.`;
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description,
    config: CONFIG,
    data: { values: rows },
    facet: { field: 'panel', type: 'ordinal', title: null, sort: panels.map((p) => p[0]) },
    columns: 3,
    spec: {
      width: 220,
      height: 170,
      mark: { type: 'line', point: { size: 24, filled: true }, strokeWidth: 1.6, opacity: 0.9 },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' } },
        y: { field: 'v', type: 'quantitative', title: label, scale: { zero: false } },
        detail: { field: 'seed', type: 'nominal' },
        ...normEncodings(norms.length > 0 ? norms : [...NORMS]),
      },
    },
  } as unknown as TopLevelSpec;
  const id = percent ? 'chart-miou-per-epoch' : 'chart-loss-per-epoch';
  const title = percent ? 'Val mIoU per epoch' : 'Train loss per epoch';
  return { id, title, description, svg: await renderSvg(spec) };
}

/** Every chart of the report, in page order. */
export async function renderCharts(report: DemoReport, summary: Summary): Promise<Chart[]> {
  return [
    await miouVsBatchChart(summary),
    await perEpochChart(report, summary, 'miou'),
    await perEpochChart(report, summary, 'trainLoss'),
  ];
}
