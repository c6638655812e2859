// Writing the demo's outputs atomically: results.json, metrics.csv and (when the report module is present) index.html.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, release, arch } from 'node:os';
import { join } from 'node:path';
import { IOError, describe } from '../errors.js';
import { DigitScenes } from '../data/digit-scenes.js';
import type { DemoReport, GalleryItem, RunResult } from './types.js';
import { writeReport } from './report/index.js';

/** Write `text` to `path` through a temporary file and a rename, so a reader never sees half a file. */
export function writeAtomic(path: string, text: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Create `dir` if needed and prove it writable (a probe file) before any training starts; IOError names --out. */
export function checkOutDir(dir: string): void {
  const probe = join(dir, `.syncbn-probe-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new IOError(
      `syncbn demo: --out must be a writable directory, received ${describe(dir)} (${(e as Error).message})`,
    );
  }
}

/** The machine and versions a report records. */
export function machineInfo(): Pick<DemoReport, 'machine' | 'versions'> {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const c = cpus();
  return {
    machine: {
      cpus: c[0]?.model ?? 'unknown',
      cores: c.length,
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      platform: `${platform()} ${release()} ${arch()}`,
    },
    versions: { syncbn: pkg.version, node: process.version, v8: process.versions.v8 },
  };
}

/** Validation scenes 0…k−1 with the predictions of the first seed's run of every (norm, batch per worker). */
export function buildGallery(
  runs: readonly RunResult[],
  predictions: ReadonlyMap<RunResult, Uint8Array[]>,
  o: { val: number; size: number; seed: number; count: number },
): GalleryItem[] {
  const val = new DigitScenes({ split: 'val', length: o.val, size: o.size, seed: o.seed });
  const items: GalleryItem[] = [];
  for (let i = 0; i < Math.min(o.count, o.val); i++) {
    const s = val.get(i);
    const item: GalleryItem = { index: i, size: o.size, image: s.image, label: s.label, predictions: {} };
    for (const r of runs) {
      const p = predictions.get(r)?.[i];
      const key = `${r.config.norm}/b${r.config.batchPerWorker}`;
      if (p !== undefined && r.config.seed === o.seed && !(key in item.predictions)) item.predictions[key] = p;
    }
    items.push(item);
  }
  return items;
}

/** Write results.json (the report minus the gallery), metrics.csv and index.html (writeReport) into `dir`. */
export async function writeOutputs(
  dir: string,
  report: DemoReport,
  csv: string,
  gallery: GalleryItem[],
): Promise<void> {
  writeAtomic(join(dir, 'results.json'), JSON.stringify(report, null, 2) + '\n');
  writeAtomic(join(dir, 'metrics.csv'), csv);
  await writeReport(dir, report, gallery);
}
