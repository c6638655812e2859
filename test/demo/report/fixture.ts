// Test fixture: a realistic fake DemoReport (norms × batches × seeds, epoch curves), scenes with noisy predictions.
import type { DemoNorm, DemoReport, EpochMetrics, GalleryItem, RunResult } from '../../../src/demo/types.js';
import { rng } from '../../kernels/helpers.js';

/** Which way the numbers point: the paper's effect, or per-worker BN beating a broken SyncBN. */
export type Outcome = 'expected' | 'reversed';

export interface FixtureOptions {
  outcome?: Outcome;
  /** Images per worker b of the grid's columns. */
  batches?: number[];
  workers?: number;
  seeds?: number[];
  epochs?: number;
  /** Norms of the grid (default all four). */
  norms?: DemoNorm[];
  /** Configurations to leave out, as `${norm}/b${b}` with b the per-worker batch of the N-worker runs. */
  missing?: string[];
  /** Add interrupted runs: one stopped after 2 epochs, one before its first epoch ended. */
  interrupted?: boolean;
  scenes?: number;
  size?: number;
  partial?: boolean;
  settings?: DemoReport['settings'];
  rngSeed?: number;
}

/** Target final mIoU of a configuration before seed noise. */
function target(outcome: Outcome, norm: DemoNorm, b: number): number {
  const shrink = Math.log2(4 / b); // 0 at b = 4, 2 at b = 1
  if (outcome === 'expected') {
    return { bigbatch: 0.72, syncbn: 0.72, bn: 0.7 - 0.07 * shrink, groupnorm: 0.66 }[norm];
  }
  return { bigbatch: 0.7, syncbn: 0.52, bn: 0.69, groupnorm: 0.6 }[norm];
}

function curve(
  final: number,
  finalPix: number,
  epochs: number,
  r: () => number,
  workers: number,
  b: number,
): EpochMetrics[] {
  return Array.from({ length: epochs }, (_, i) => {
    const e = i + 1;
    const f = 1 - Math.exp(-(e * 2.5) / epochs);
    const scale = f / (1 - Math.exp(-2.5));
    const trainSeconds = 20 + 5 * r();
    return {
      epoch: e,
      trainLoss: 2.3 * Math.exp(-e / 2) + 0.25 + 0.03 * r(),
      valLoss: 2.1 * Math.exp(-e / 2.2) + 0.3 + 0.03 * r(),
      miou: e === epochs ? final : Math.min(1, final * scale * (0.97 + 0.03 * r())),
      pixelAccuracy: e === epochs ? finalPix : Math.min(1, finalPix * (0.8 + 0.2 * scale)),
      trainSeconds,
      imagesPerSec: (512 / trainSeconds) * (workers > 1 ? 1 : 1.3) * (b / (b + 1)),
    };
  });
}

/** A grid's DemoReport with gallery items whose predictions are the labels with configuration-dependent noise. */
export function makeFixture(opts: FixtureOptions = {}): { report: DemoReport; gallery: GalleryItem[] } {
  const outcome = opts.outcome ?? 'expected';
  const batches = opts.batches ?? [1, 2, 4];
  const workers = opts.workers ?? 4;
  const seeds = opts.seeds ?? [1, 2];
  const epochs = opts.epochs ?? 6;
  const norms = opts.norms ?? (['bigbatch', 'syncbn', 'bn', 'groupnorm'] as DemoNorm[]);
  const missing = new Set(opts.missing ?? []);
  const r = rng(opts.rngSeed ?? 7);
  const runs: RunResult[] = [];
  for (const b of batches) {
    for (const norm of norms) {
      if (missing.has(`${norm}/b${b}`)) continue;
      for (const seed of seeds) {
        const big = norm === 'bigbatch';
        const config = {
          norm,
          workers: big ? 1 : workers,
          batchPerWorker: big ? workers * b : b,
          globalBatch: workers * b,
          seed,
          epochs,
        };
        const final = Math.min(0.99, target(outcome, norm, b) + 0.012 * (r() - 0.5));
        const finalPix = Math.min(0.999, 0.8 + 0.25 * final + 0.004 * r());
        let series = curve(final, finalPix, epochs, r, config.workers, b);
        let interrupted = false;
        const last = b === batches[batches.length - 1] && seed === seeds[seeds.length - 1];
        if (opts.interrupted && last && norm === 'groupnorm') [series, interrupted] = [series.slice(0, 2), true];
        if (opts.interrupted && last && norm === 'bn') [series, interrupted] = [[], true];
        const end = series[series.length - 1];
        const wallSeconds = series.reduce((a, e) => a + e.trainSeconds + 3, 0);
        runs.push({
          config,
          epochs: series,
          final: end ? { miou: end.miou, pixelAccuracy: end.pixelAccuracy, valLoss: end.valLoss } : null,
          timings: {
            wallSeconds,
            stepMsMedian: (1000 * (workers * b)) / (end?.imagesPerSec ?? 20),
            imagesPerSec: end?.imagesPerSec ?? 0,
          },
          interrupted,
        });
      }
    }
  }
  const report: DemoReport = {
    settings: opts.settings ?? {
      nproc: workers,
      batches,
      seeds: seeds.length,
      epochs,
      size: opts.size ?? 32,
      lr: 0.05,
      out: './syncbn-report',
      trainScenes: 2048,
      valScenes: 256,
      quick: false,
    },
    machine: { cpus: 'Fake CPU @ 2.0GHz', cores: 2, memoryGiB: 7.6, platform: 'linux x64' },
    versions: { syncbn: '0.1.0', node: 'v20.20.2', v8: '11.3.244.8-node.33' },
    startedAt: '2026-12-03T09:00:00.000Z',
    wallSeconds: runs.reduce((a, x) => a + x.timings.wallSeconds, 0),
    runs,
    partial: opts.partial ?? false,
  };
  return { report, gallery: makeGallery(report, opts.scenes ?? 3, opts.size ?? 32, r) };
}

/** Scenes of 1–3 discs (a class each, with a 1-pixel ignore rim) on a noisy background; predictions per config. */
function makeGallery(report: DemoReport, count: number, size: number, r: () => number): GalleryItem[] {
  const keys = [
    ...new Set(report.runs.filter((x) => x.final !== null).map((x) => `${x.config.norm}/b${x.config.batchPerWorker}`)),
  ];
  const errorRate = (key: string): number => {
    const run = report.runs.find((x) => `${x.config.norm}/b${x.config.batchPerWorker}` === key && x.final)!;
    return Math.max(0, 1 - run.final!.pixelAccuracy);
  };
  return Array.from({ length: count }, (_, s) => {
    const image = new Float32Array(size * size);
    const label = new Uint8Array(size * size);
    for (let i = 0; i < image.length; i++) image[i] = 0.15 * r();
    const blobs = 1 + Math.floor(3 * r());
    for (let k = 0; k < blobs; k++) {
      const cls = 1 + Math.floor(10 * r());
      const [cx, cy, rad] = [size * (0.2 + 0.6 * r()), size * (0.2 + 0.6 * r()), size * (0.1 + 0.12 * r())];
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const d = Math.hypot(x - cx, y - cy);
          if (d <= rad) {
            label[y * size + x] = cls;
            image[y * size + x] = 0.7 + 0.3 * r();
          } else if (d <= rad + 1 && label[y * size + x] === 0) {
            label[y * size + x] = 255;
          }
        }
      }
    }
    const predictions: Record<string, Uint8Array> = {};
    for (const key of keys) {
      const e = errorRate(key);
      predictions[key] = label.map((l) => (r() < e ? Math.floor(11 * r()) : l === 255 ? 0 : l));
    }
    return { index: 10 * s + 3, size, image, label, predictions };
  });
}
