// The demo's result records: what `syncbn demo` measures, writes to results.json and renders in the report.

/** The normalization of one configuration of the experiment grid. */
export type DemoNorm = 'syncbn' | 'bn' | 'bigbatch' | 'groupnorm';

/** One configuration of the grid (one training run). */
export interface RunConfig {
  /** 'syncbn' (N workers × b, statistics synced), 'bn' (N × b, per-worker statistics),
   * 'bigbatch' (1 worker × N·b, plain BN: the reference SyncBN must match), 'groupnorm' (N × b). */
  norm: DemoNorm;
  /** Worker threads that trained this run (1 for 'bigbatch'). */
  workers: number;
  /** Images per worker per step (N·b for 'bigbatch'). */
  batchPerWorker: number;
  /** Images per step over all workers (the same for the four norms of one column). */
  globalBatch: number;
  seed: number;
  epochs: number;
}

/** Metrics after one epoch; validation runs in eval mode (running statistics). */
export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  /** Mean IoU over the classes present (11 classes: background + digits 0–9), in [0, 1]. */
  miou: number;
  /** Fraction of non-ignored validation pixels classified correctly, in [0, 1]. */
  pixelAccuracy: number;
  /** Wall-clock seconds of this epoch's training (validation excluded). */
  trainSeconds: number;
  /** Training images per second over all workers in this epoch. */
  imagesPerSec: number;
}

/** One finished (or interrupted) run of the grid. */
export interface RunResult {
  config: RunConfig;
  epochs: EpochMetrics[];
  /** Metrics of the last epoch; null when the run was interrupted before its first epoch ended. */
  final: { miou: number; pixelAccuracy: number; valLoss: number } | null;
  timings: {
    wallSeconds: number;
    /** Median milliseconds of one training step (all workers in parallel). */
    stepMsMedian: number;
    imagesPerSec: number;
  };
  /** True when Ctrl-C or an error stopped this run before its last epoch. */
  interrupted: boolean;
}

/** A validation scene of the gallery with each configuration's prediction. */
export interface GalleryItem {
  /** Index of the scene in the validation split. */
  index: number;
  size: number;
  /** size×size grayscale input in [0, 1] (after the same normalization the model saw, undone). */
  image: Float32Array;
  /** size×size labels: 0 background, 1–10 digit d+1, 255 ignore. */
  label: Uint8Array;
  /** key: `${norm}/b${batchPerWorker}` (seed of the first run) → size×size predicted labels 0–10. */
  predictions: Record<string, Uint8Array>;
}

/** Everything the report shows; results.json is this object with the gallery's arrays left out. */
export interface DemoReport {
  /** Settings of the run: every option as parsed, plus dataset sizes. */
  settings: Record<string, string | number | boolean | number[]>;
  machine: { cpus: string; cores: number; memoryGiB: number; platform: string };
  versions: { syncbn: string; node: string; v8: string };
  startedAt: string;
  wallSeconds: number;
  runs: RunResult[];
  /** True while the grid is still running (the report is rewritten after each configuration). */
  partial: boolean;
  /** Files the run left next to the report (the trained model), linked from its "Trained model" line. */
  artifacts?: DemoArtifact[];
}

/** A file of the output directory the report links to. */
export interface DemoArtifact {
  /** What the link shows, e.g. "model.onnx". */
  name: string;
  /** Relative to the report directory. */
  path: string;
  /** What the file is and the command that uses it. */
  note?: string;
}
