// Checkpoints of `syncbn demo`: a directory per configuration, the ranks' save/restore, finished results for --resume.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IOError, UsageError, describe } from '../errors.js';
import type { ProcessGroup } from '../comm/types.js';
import { loadLatestCheckpoint, saveCheckpoint, type CheckpointState } from '../io/checkpoint.js';
import { captureTrainingState, restoreTrainingState, type TrainingParts } from '../io/checkpoint-state.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { EpochMetrics, RunConfig, RunResult } from './types.js';
import type { TrainSettings } from './options.js';

/** A configuration's finished result (RunResult, gallery predictions) in its checkpoint directory. */
export const RESULT_FILE = 'result.json';
/** A copy of the saved model (model.safetensors of --out) in the SyncBN configuration's checkpoint directory. */
export const MODEL_FILE = 'model.safetensors';

/** The subdirectory of one configuration: `<norm>-b<batch per worker>-s<seed>`. */
export const configKey = (c: Pick<RunConfig, 'norm' | 'batchPerWorker' | 'seed'>): string =>
  `${c.norm}-b${c.batchPerWorker}-s${c.seed}`;

/** Every setting that changes a configuration's arithmetic: a checkpoint or result resumes only into equal ones. */
export interface Fingerprint extends TrainSettings {
  norm: string;
  workers: number;
  batchPerWorker: number;
  seed: number;
}

/** Where a rank stands inside the run, beyond what captureTrainingState keeps (JSON: numbers round-trip exactly). */
export interface RankProgress {
  /** Epoch index and steps of it already taken (may equal the steps per epoch: its evaluation is still due). */
  epoch: number;
  position: number;
  /** Sum of the step losses of this epoch so far, and its training seconds so far. */
  lossSum: number;
  trainSeconds: number;
  /** Metrics of the epochs already evaluated. */
  epochs: EpochMetrics[];
}

/** The names of the fields where `got` differs from `want`, as "field: checkpoint X, this run Y". */
export function fingerprintDiff(want: Fingerprint, got: unknown): string[] {
  const g = (got ?? {}) as Record<string, unknown>;
  return (Object.keys(want) as (keyof Fingerprint)[])
    .filter((k) => g[k] !== want[k])
    .map((k) => `${k}: checkpoint ${describe(g[k])}, this run ${describe(want[k])}`);
}

/**
 * Rank side of --resume: load the newest usable checkpoint of `dir` (every rank reads the same files) into `parts`,
 * checking the world size and global batch; null when there is none.
 */
export function restoreRank(
  dir: string,
  parts: TrainingParts,
  pg: ProcessGroup,
  globalBatch: number,
): { step: number; progress: RankProgress } | null {
  const ck = loadLatestCheckpoint(dir);
  if (ck === null) return null;
  try {
    const at = restoreTrainingState(ck, parts, { worldSize: pg.size, globalBatch });
    const u = at.user as { lossSum?: unknown; trainSeconds?: unknown; epochs?: unknown };
    if (typeof u.lossSum !== 'number' || typeof u.trainSeconds !== 'number' || !Array.isArray(u.epochs)) {
      throw new IOError(
        `syncbn demo: checkpoint ${ck.manifestPath} lacks the demo's progress (user.lossSum, ` +
          `user.trainSeconds, user.epochs), received ${describe(Object.keys(u))}`,
      );
    }
    return {
      step: at.step,
      progress: {
        epoch: at.epoch,
        position: at.position,
        lossSum: u.lossSum,
        trainSeconds: u.trainSeconds,
        epochs: u.epochs as EpochMetrics[],
      },
    };
  } finally {
    ck.dispose();
  }
}

/** Rank side: every rank calls this at the same step; rank 0 writes after the cross-rank checksum (saveCheckpoint). */
export async function saveRank(
  dir: string,
  parts: TrainingParts,
  pg: ProcessGroup,
  step: number,
  globalBatch: number,
  p: RankProgress,
  fingerprint: Fingerprint | undefined,
): Promise<void> {
  // timings are each rank's own clock; the checkpoint (checksummed across ranks) keeps rank 0's, the ones reported
  const clock = Float64Array.from([p.trainSeconds, ...p.epochs.flatMap((e) => [e.trainSeconds, e.imagesPerSec])]);
  if (pg.size > 1) await pg.broadcast(clock, 0, { tag: 'demo.checkpoint.clock' });
  const epochs = p.epochs.map((e, i) => ({ ...e, trainSeconds: clock[1 + 2 * i]!, imagesPerSec: clock[2 + 2 * i]! }));
  const state: CheckpointState & { dispose(): void } = captureTrainingState(parts, {
    step,
    worldSize: pg.size,
    globalBatch,
    epoch: p.epoch,
    position: p.position,
    user: { fingerprint: fingerprint ?? null, lossSum: p.lossSum, trainSeconds: clock[0]!, epochs },
  });
  try {
    await saveCheckpoint(dir, state, { group: pg, keep: 2 });
  } finally {
    state.dispose();
  }
}

interface FinishedFile {
  fingerprint: Fingerprint;
  run: RunResult;
  /** Gallery predictions, base64. */
  predictions: string[];
}

/** Record a finished configuration (atomically): --resume skips it and reuses this result and its gallery. */
export function writeFinished(dir: string, fingerprint: Fingerprint, run: RunResult, predictions: Uint8Array[]): void {
  const f: FinishedFile = {
    fingerprint,
    run,
    predictions: predictions.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('base64')),
  };
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, RESULT_FILE), Buffer.from(`${JSON.stringify(f)}\n`), 'syncbn demo');
}

/** The finished record of `dir`, or null when the configuration has not finished there. */
export function readFinished(dir: string): (FinishedFile & { bytes: Uint8Array[] }) | null {
  const path = join(dir, RESULT_FILE);
  if (!existsSync(path)) return null;
  let f: FinishedFile;
  try {
    f = JSON.parse(readFileSync(path, 'utf8')) as FinishedFile;
  } catch (e) {
    throw new IOError(`syncbn demo: ${path} is not a readable result (${(e as Error).message})`, { cause: e });
  }
  if (typeof f?.run?.config !== 'object' || !Array.isArray(f.predictions)) {
    throw new IOError(`syncbn demo: ${path} is not a demo result: expected {fingerprint, run, predictions}`);
  }
  return { ...f, bytes: f.predictions.map((s) => new Uint8Array(Buffer.from(s, 'base64'))) };
}

/** The fingerprint of configuration `c` under options `o`. */
export function fingerprintOf(
  c: RunConfig,
  o: { train: number; val: number; size: number; width: number; lr: number },
): Fingerprint {
  const { norm, workers, batchPerWorker, seed, epochs } = c;
  const { train, val, size, width, lr } = o;
  return { norm, workers, batchPerWorker, seed, epochs, train, val, size, width, lr };
}

/** What --checkpoint-dir holds for one configuration. */
export type ConfigState = { kind: 'new' } | { kind: 'checkpoint'; step: number } | { kind: 'finished' };

/**
 * Before any training: prove `root` writable (IOError naming --checkpoint-dir) and inspect every configuration's
 * directory. Without --resume a directory holding checkpoints or a result is refused (UsageError: nothing is
 * overwritten); with it, each checkpoint and result must have been taken with the same settings (UsageError naming
 * the configuration and the fields that differ).
 */
export function inspectCheckpoints(
  root: string,
  resume: boolean,
  configs: readonly { config: RunConfig; fingerprint: Fingerprint }[],
): Map<string, ConfigState> {
  const probe = join(root, `.syncbn-probe-${process.pid}`);
  try {
    mkdirSync(root, { recursive: true });
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new IOError(
      `syncbn demo: --checkpoint-dir must be a writable directory, received ${describe(root)} ` +
        `(${(e as Error).message})`,
      { cause: e },
    );
  }
  const out = new Map<string, ConfigState>();
  for (const { config, fingerprint } of configs) {
    const key = configKey(config);
    const dir = join(root, key);
    const held = existsSync(dir) && readdirSync(dir).some((f) => f === RESULT_FILE || /^ckpt-\d+\.json$/.test(f));
    if (!held) {
      out.set(key, { kind: 'new' });
      continue;
    }
    if (!resume) {
      throw new UsageError(
        `syncbn demo: --checkpoint-dir ${describe(root)} already holds checkpoints of ${key}: pass --resume to ` +
          'continue from them, or choose another directory',
      );
    }
    const mismatch = (where: string, diff: string[]): never => {
      throw new UsageError(
        `syncbn demo: --resume: ${where} was taken with other settings (${diff.join('; ')}); resume with the ` +
          'same options, or choose another --checkpoint-dir',
      );
    };
    const done = readFinished(dir);
    if (done !== null) {
      const diff = fingerprintDiff(fingerprint, done.fingerprint);
      if (diff.length > 0) mismatch(join(dir, RESULT_FILE), diff);
      out.set(key, { kind: 'finished' });
      continue;
    }
    const ck = loadLatestCheckpoint(dir);
    if (ck === null) {
      out.set(key, { kind: 'new' });
      continue;
    }
    const diff = fingerprintDiff(fingerprint, (ck.extra.user as { fingerprint?: unknown } | undefined)?.fingerprint);
    ck.dispose();
    if (diff.length > 0) mismatch(ck.manifestPath, diff);
    out.set(key, { kind: 'checkpoint', step: ck.step });
  }
  return out;
}

/** Copy `from` to `to` atomically when both differ and `from` exists (the saved model: --out ↔ checkpoint dir). */
export function copyModel(from: string, to: string): void {
  if (from === to || !existsSync(from)) return;
  writeFileAtomic(to, readFileSync(from), 'syncbn demo');
}
