// writeReport: the demo's self-contained HTML report (table, SVG charts, PNG gallery), written atomically.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { IOError, ValueError, describe } from '../../errors.js';
import type { DemoReport, GalleryItem } from '../types.js';
import { renderCharts } from './charts.js';
import { renderGallery } from './gallery.js';
import { pageHtml } from './html.js';
import { validateArtifacts } from './artifacts-html.js';
import { NORMS, summarize } from './summary.js';

export { conclusion } from './conclusion.js';
export { summarize, type Summary, type Cell, type Column, type Stat } from './summary.js';
export { PALETTE, IGNORE_COLOR, CLASS_NAMES } from './gallery.js';

/** Folder of the gallery's PNGs, relative to the report directory. */
export const GALLERY_DIR = 'gallery';
/** Folder of the charts' SVGs, relative to the report directory. */
export const CHARTS_DIR = 'charts';

/** Write `bytes` to `path` through a temp file in the same directory and a rename: readers see old or new. */
async function writeAtomic(path: string, bytes: string | Uint8Array, sync = false): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(bytes);
      if (sync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw new IOError(`writeReport: could not write ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e });
  }
}

function positiveInt(v: unknown, name: string): void {
  if (!Number.isInteger(v) || (v as number) < 1) {
    throw new ValueError(`writeReport: ${name} must be an integer ≥ 1, received ${describe(v)}`);
  }
}

function fraction(v: unknown, name: string): void {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
    throw new ValueError(`writeReport: ${name} must be a number in [0, 1], received ${describe(v)}`);
  }
}

/** Check the parts of the report the page computes with; names the first bad field. */
function validateReport(report: DemoReport): void {
  if (typeof report !== 'object' || report === null) {
    throw new ValueError(`writeReport: report must be an object, received ${describe(report)}`);
  }
  if (!Array.isArray(report.runs)) {
    throw new ValueError(`writeReport: report.runs must be an array, received ${describe(report.runs)}`);
  }
  if (typeof report.settings !== 'object' || report.settings === null) {
    throw new ValueError(`writeReport: report.settings must be an object, received ${describe(report.settings)}`);
  }
  validateArtifacts(report.artifacts);
  report.runs.forEach((r, i) => {
    const at = `report.runs[${i}]`;
    if (!(NORMS as readonly unknown[]).includes(r?.config?.norm)) {
      throw new ValueError(
        `writeReport: ${at}.config.norm must be one of ${NORMS.join(', ')}, received ${describe(r?.config?.norm)}`,
      );
    }
    for (const k of ['workers', 'batchPerWorker', 'globalBatch', 'epochs'] as const) {
      positiveInt(r.config[k], `${at}.config.${k}`);
    }
    if (!Number.isInteger(r.config.seed)) {
      throw new ValueError(`writeReport: ${at}.config.seed must be an integer, received ${describe(r.config.seed)}`);
    }
    if (r.config.workers * r.config.batchPerWorker !== r.config.globalBatch) {
      throw new ValueError(
        `writeReport: ${at}.config.globalBatch must equal workers × batchPerWorker = ` +
          `${r.config.workers * r.config.batchPerWorker}, received ${r.config.globalBatch}`,
      );
    }
    if (typeof r.timings !== 'object' || r.timings === null) {
      throw new ValueError(`writeReport: ${at}.timings must be an object, received ${describe(r.timings)}`);
    }
    if (!Array.isArray(r.epochs)) {
      throw new ValueError(`writeReport: ${at}.epochs must be an array, received ${describe(r.epochs)}`);
    }
    if (r.final !== null) {
      fraction(r.final?.miou, `${at}.final.miou`);
      fraction(r.final.pixelAccuracy, `${at}.final.pixelAccuracy`);
    }
  });
}

/** Remove files of an earlier write that the new page no longer shows (only names this module writes). */
async function prune(dir: string, keep: ReadonlySet<string>, pattern: RegExp): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  await Promise.all(
    names.filter((n) => pattern.test(n) && !keep.has(n)).map((n) => unlink(join(dir, n)).catch(() => undefined)),
  );
}

/**
 * Write the demo's report into `dir`: `index.html` (written last, atomically: temp file + rename), the charts as
 * `charts/<id>.svg` (Vega-Lite rendered in Node) and the gallery as `gallery/scene-<index>-*.png`. The page is
 * self-contained for offline viewing: no network, no script. Safe to call again after each configuration: every
 * file is replaced atomically, and pictures of an earlier write that the new page no longer shows are removed.
 *
 * @param dir report directory (created if missing)
 * @param report the grid's results so far; runs with `final: null` and missing configurations are shown as such
 * @param gallery validation scenes with each configuration's prediction (may be empty)
 * @throws ValueError on malformed records (naming the field), IOError when a file cannot be written
 */
export async function writeReport(dir: string, report: DemoReport, gallery: GalleryItem[]): Promise<void> {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new ValueError(`writeReport: dir must be a non-empty path, received ${describe(dir)}`);
  }
  if (!Array.isArray(gallery)) {
    throw new ValueError(`writeReport: gallery must be an array, received ${describe(gallery)}`);
  }
  validateReport(report);
  const scenes = renderGallery(gallery);
  const summary = summarize(report);
  const charts = await renderCharts(report, summary);
  const chartFile = (id: string): string => `${CHARTS_DIR}/${id}.svg`;
  const html = pageHtml(report, summary, charts, scenes, chartFile);
  for (const sub of [GALLERY_DIR, CHARTS_DIR]) {
    try {
      await mkdir(join(dir, sub), { recursive: true });
    } catch (e) {
      throw new IOError(`writeReport: could not create ${JSON.stringify(join(dir, sub))}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  const pictures = scenes.flatMap((s) => [s.input, s.truth, ...[...s.predictions.values()].map((p) => p.picture)]);
  await Promise.all([
    ...pictures.map((p) => writeAtomic(join(dir, p.file), p.bytes)),
    ...charts.map((c) => writeAtomic(join(dir, chartFile(c.id)), c.svg)),
  ]);
  await writeAtomic(join(dir, 'index.html'), html, true);
  const base = (f: string): string => f.slice(f.lastIndexOf('/') + 1);
  await prune(join(dir, GALLERY_DIR), new Set(pictures.map((p) => base(p.file))), /^scene-\d+-[a-z]+(-b\d+)?\.png$/);
  await prune(join(dir, CHARTS_DIR), new Set(charts.map((c) => `${c.id}.svg`)), /^chart-[a-z-]+\.svg$/);
}
