// A training run's whole state as a CheckpointState (model, optimizer, schedule, sampler, PRNGs, progress) and back.
import { UsageError, describe } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { CheckpointState } from './checkpoint.js';

/** Anything with PyTorch-style tensor state (a Module, an Optimizer). */
interface TensorStateful {
  stateDict(): Record<string, Tensor>;
  loadStateDict(sd: Record<string, Tensor>, opts?: { strict?: boolean }): unknown;
}
/** Anything with JSON-able state (an LR schedule, a DistributedSampler). */
interface JsonStateful<S> {
  stateDict(): S;
  loadStateDict(state: S): void;
}
/** A seeded generator (RandomGenerator): its full state, JSON-able. */
interface Seeded<S> {
  getState(): S;
  setState(state: S): unknown;
}

/** The stateful pieces of a training run; every one is optional. */
export interface TrainingParts {
  /** Parameters and persistent buffers (a Module; with DDP pass the wrapped module). */
  model?: TensorStateful;
  /** Its per-parameter buffers (momentum, Adam moments, step) and each group's lr. */
  optimizer?: TensorStateful & { paramGroups: { lr: number; initialLr: number }[] };
  /** An LR schedule (PolyLR, CosineAnnealingLR). */
  scheduler?: JsonStateful<unknown>;
  /** A DistributedSampler (its epoch, checked against its seed and dataset length). */
  sampler?: JsonStateful<unknown>;
  /** Every PRNG whose stream must continue (init, dropout, data augmentation), by a stable name. */
  generators?: Readonly<Record<string, Seeded<unknown>>>;
}

/** Where the run is; step, worldSize and globalBatch go to the manifest, the rest to its extras. */
export interface TrainingProgress {
  /** Optimizer steps completed. */
  step: number;
  worldSize: number;
  /** Samples per step over all ranks (kept when resuming at another world size); null if not applicable. */
  globalBatch?: number | null;
  /** Epoch, and samples of it already consumed. Default 0 and 0. */
  epoch?: number;
  position?: number;
  /** Any other JSON-able fields of the run, returned by restoreTrainingState as `user`. */
  user?: Record<string, unknown>;
}

/** What restoreTrainingState hands back: the progress to continue from. */
export interface RestoredProgress {
  step: number;
  worldSize: number;
  globalBatch: number | null;
  epoch: number;
  position: number;
  user: Record<string, unknown>;
}

const PARTS = ['model', 'optimizer', 'scheduler', 'sampler', 'generators'] as const;

/** What captureTrainingState returns: the state to save, and dispose() to free the copies made for it. */
export interface CapturedTrainingState extends CheckpointState {
  /** Free the optimizer buffers copied into the state (the model's tensors are not copies). */
  dispose(): void;
}

/**
 * Collect a training run's state for saveCheckpoint: tensors "model.<name>" and "optimizer.<key>",
 * extras {epoch, position, optimizer: {paramGroups}, scheduler, sampler, generators, user, parts}.
 * The model's tensors are its own (not copied); call dispose() after saving to free the optimizer's
 * copies.
 */
export function captureTrainingState(parts: TrainingParts, progress: TrainingProgress): CapturedTrainingState {
  const { step, worldSize, globalBatch = null, epoch = 0, position = 0, user = {} } = progress;
  for (const [k, v] of [
    ['epoch', epoch],
    ['position', position],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new UsageError(`captureTrainingState: progress.${k} must be an integer ≥ 0, received ${describe(v)}`);
    }
  }
  const tensors: Record<string, Tensor> = {};
  const owned: Tensor[] = [];
  const extra: Record<string, unknown> = { epoch, position, user, parts: PARTS.filter((p) => parts[p] !== undefined) };
  if (parts.model !== undefined) {
    for (const [n, t] of Object.entries(parts.model.stateDict())) tensors[`model.${n}`] = t;
  }
  if (parts.optimizer !== undefined) {
    for (const [n, t] of Object.entries(parts.optimizer.stateDict())) {
      tensors[`optimizer.${n}`] = t;
      owned.push(t);
    }
    extra.optimizer = { paramGroups: parts.optimizer.paramGroups.map((g) => ({ lr: g.lr, initialLr: g.initialLr })) };
  }
  if (parts.scheduler !== undefined) extra.scheduler = parts.scheduler.stateDict();
  if (parts.sampler !== undefined) extra.sampler = parts.sampler.stateDict();
  if (parts.generators !== undefined) {
    extra.generators = Object.fromEntries(Object.entries(parts.generators).map(([n, g]) => [n, g.getState()]));
  }
  return {
    step,
    worldSize,
    globalBatch,
    tensors,
    extra,
    dispose: () => {
      for (const t of owned) t.dispose();
    },
  };
}

function prefixed(tensors: Readonly<Record<string, Tensor>>, prefix: string): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [n, t] of Object.entries(tensors)) if (n.startsWith(prefix)) out[n.slice(prefix.length)] = t;
  return out;
}

/** Run `fn`; an error from it gets "restoreTrainingState: <what>: " prepended (type kept). */
function within<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error) e.message = `restoreTrainingState: ${what}: ${e.message}`;
    throw e;
  }
}

/**
 * Load a checkpoint's state into the given parts (each must have been saved; extra saved parts
 * are ignored, e.g. loading only the model for evaluation) and return the progress. `expect`
 * fields that are given must equal the checkpoint's (UsageError naming the field, expected and
 * received): pass worldSize to forbid resuming at another world size, globalBatch to insist on it.
 * These checks run before anything is loaded; the model's and optimizer's own key and shape checks
 * (loadStateDict) run as each part loads.
 */
export function restoreTrainingState(
  ck: CheckpointState,
  parts: TrainingParts,
  expect: { worldSize?: number; globalBatch?: number | null } = {},
): RestoredProgress {
  for (const k of ['worldSize', 'globalBatch'] as const) {
    if (expect[k] !== undefined && expect[k] !== ck[k]) {
      throw new UsageError(
        `restoreTrainingState: ${k} differs: expected ${describe(expect[k])} (this run), ` +
          `received ${describe(ck[k])} (checkpoint at step ${ck.step})`,
      );
    }
  }
  const x = ck.extra as Record<string, unknown>;
  const saved = Array.isArray(x.parts) ? (x.parts as string[]) : [];
  for (const p of PARTS) {
    if (parts[p] !== undefined && !saved.includes(p)) {
      throw new UsageError(
        `restoreTrainingState: a ${p} was given but the checkpoint at step ${ck.step} has no ` +
          `${p} state (it has: ${saved.join(', ') || 'nothing'})`,
      );
    }
  }
  const gens = parts.generators;
  const savedGens = (x.generators ?? {}) as Record<string, unknown>;
  if (gens !== undefined) {
    const missing = Object.keys(gens).filter((n) => !(n in savedGens));
    const unexpected = Object.keys(savedGens).filter((n) => !(n in gens));
    if (missing.length + unexpected.length > 0) {
      throw new UsageError(
        `restoreTrainingState: generators do not match the checkpoint: missing ` +
          `[${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`,
      );
    }
  }
  const opt = parts.optimizer;
  const groups = (x.optimizer as { paramGroups?: { lr: number; initialLr: number }[] } | undefined)?.paramGroups;
  if (opt !== undefined && (!Array.isArray(groups) || groups.length !== opt.paramGroups.length)) {
    throw new UsageError(
      `restoreTrainingState: optimizer param groups: expected ${opt.paramGroups.length} ` +
        `(this optimizer), received ${describe(groups?.length)} (checkpoint)`,
    );
  }
  const model = parts.model;
  if (model !== undefined) within('model', () => model.loadStateDict(prefixed(ck.tensors, 'model.'), { strict: true }));
  if (opt !== undefined) {
    within('optimizer', () => opt.loadStateDict(prefixed(ck.tensors, 'optimizer.')));
    opt.paramGroups.forEach((g, i) => {
      g.lr = groups![i]!.lr;
      g.initialLr = groups![i]!.initialLr;
    });
  }
  if (parts.scheduler !== undefined) within('scheduler', () => parts.scheduler!.loadStateDict(x.scheduler));
  if (parts.sampler !== undefined) within('sampler', () => parts.sampler!.loadStateDict(x.sampler));
  for (const [n, g] of Object.entries(gens ?? {})) {
    within(`generator ${JSON.stringify(n)}`, () => g.setState(savedGens[n]));
  }
  const num = (k: string): number => {
    const v = x[k];
    if (!Number.isSafeInteger(v) || (v as number) < 0) {
      throw new UsageError(`restoreTrainingState: extra.${k}: expected an integer ≥ 0, received ${describe(v)}`);
    }
    return v as number;
  };
  const user = x.user !== null && typeof x.user === 'object' ? (x.user as Record<string, unknown>) : {};
  const { step, worldSize, globalBatch } = ck;
  return { step, worldSize, globalBatch, epoch: num('epoch'), position: num('position'), user };
}
