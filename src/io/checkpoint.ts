// Training checkpoints: safetensors + JSON manifest (sha256), written atomically by rank 0 after a cross-rank checksum.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { IOError, SyncbnError, UsageError, describe } from '../errors.js';
import type { ProcessGroup } from '../comm/types.js';
import type { Tensor } from '../tensor/tensor.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors.js';
import { fsyncDir, removeStaleTemps, writeFileAtomic } from './atomic.js';
import { validateManifest, type CheckpointManifest } from './checkpoint-manifest.js';

export type { CheckpointManifest } from './checkpoint-manifest.js';

/** Everything a checkpoint holds: named float32 tensors, JSON-able extras, and where the run was. */
export interface CheckpointState {
  /** Optimizer steps completed when the state was taken (names the files: ckpt-<step>). */
  step: number;
  /** World size the state was taken at. */
  worldSize: number;
  /** Global batch (samples per step over all ranks); null when the run has none to keep. */
  globalBatch: number | null;
  /** Model parameters and buffers, optimizer buffers, … by name (float32, stored bit for bit). */
  tensors: Readonly<Record<string, Tensor>>;
  /** Everything else, JSON-able (PRNG states, sampler epoch, scheduler, user fields); numbers round-trip exactly. */
  extra: Readonly<Record<string, unknown>>;
}

/** A checkpoint read from disk; dispose() frees its tensors. */
export interface LoadedCheckpoint extends CheckpointState {
  /** The safetensors file and its manifest. */
  path: string;
  manifestPath: string;
  /** Free the checkpoint's tensors (call once its state is restored). */
  dispose(): void;
}

/**
 * Ranks hold different training state at a checkpoint; the message lists the ranks and entries that differ from rank 0.
 */
export class CheckpointMismatchError extends SyncbnError {
  /** Ranks whose state differs from rank 0's. */
  readonly ranks: readonly number[];
  constructor(message: string, ranks: readonly number[]) {
    super('E_CHECKPOINT_MISMATCH', message);
    this.ranks = ranks;
  }
}

/** Options of saveCheckpoint. */
export interface SaveCheckpointOptions {
  /** Every rank of this group calls saveCheckpoint; state is checksummed across it and rank 0 writes. */
  group?: ProcessGroup | null;
  /** Keep the newest `keep` checkpoints in the directory, delete older ones. Default 3. */
  keep?: number;
}

/** Options of loadLatestCheckpoint. */
export interface LoadCheckpointOptions {
  /** Receives the warning when a checkpoint is unusable and an older one is used. Default: process.emitWarning. */
  onWarning?: (message: string) => void;
}

const FILE = /^ckpt-(\d{8,})\.json$/;
const name = (step: number): string => `ckpt-${String(step).padStart(8, '0')}`;

function checkState(state: CheckpointState): void {
  const s = state as Partial<CheckpointState> | null;
  if (s === null || typeof s !== 'object') {
    throw new UsageError(`saveCheckpoint: state must be an object, received ${describe(s)}`);
  }
  if (!Number.isSafeInteger(s.step) || s.step! < 0) {
    throw new UsageError(`saveCheckpoint: state.step must be an integer ≥ 0, received ${describe(s.step)}`);
  }
  if (!Number.isSafeInteger(s.worldSize) || s.worldSize! < 1) {
    throw new UsageError(`saveCheckpoint: state.worldSize must be an integer ≥ 1, received ${describe(s.worldSize)}`);
  }
  if (s.globalBatch !== null && (!Number.isSafeInteger(s.globalBatch) || s.globalBatch! < 1)) {
    throw new UsageError(
      `saveCheckpoint: state.globalBatch must be an integer ≥ 1 or null, received ` + `${describe(s.globalBatch)}`,
    );
  }
  if (s.tensors === null || typeof s.tensors !== 'object') {
    throw new UsageError(`saveCheckpoint: state.tensors must be an object of Tensors, received ${describe(s.tensors)}`);
  }
  if (s.extra === null || typeof s.extra !== 'object' || Array.isArray(s.extra)) {
    throw new UsageError(`saveCheckpoint: state.extra must be a JSON object, received ${describe(s.extra)}`);
  }
}

/** 64-bit digests (two uint32 halves each) of every entry, in sorted name order, plus the names and the extras. */
function digests(state: CheckpointState, extraJson: string): { names: string[]; packed: Float64Array } {
  const names = Object.keys(state.tensors).sort();
  const entries: [string, Uint8Array][] = names.map((n) => {
    const t = state.tensors[n]!;
    const d = t.data;
    return [n, new Uint8Array(d.buffer, d.byteOffset, d.byteLength)];
  });
  entries.push(['(names)', Buffer.from(JSON.stringify(names))]);
  const meta = `${state.step},${state.worldSize},${state.globalBatch},${extraJson}`;
  entries.push(['(step, worldSize, globalBatch, extra)', Buffer.from(meta)]);
  const packed = new Float64Array(2 * entries.length);
  entries.forEach(([n, bytes], i) => {
    const h = createHash('sha256').update(n).update(bytes).digest();
    packed[2 * i] = h.readUInt32LE(0);
    packed[2 * i + 1] = h.readUInt32LE(4);
  });
  return { names: [...names, entries.at(-2)![0], entries.at(-1)![0]], packed };
}

/** Throw CheckpointMismatchError on every rank (the same message) if any rank's digests differ from rank 0's. */
function compareDigests(all: readonly Float64Array[], names: readonly string[]): void {
  const ref = all[0]!;
  const bad: number[] = [];
  const where: string[] = [];
  all.forEach((a, r) => {
    if (r === 0) return;
    if (a.length !== ref.length) {
      bad.push(r);
      where.push(`rank ${r} has ${a.length / 2 - 2} tensors, rank 0 has ${ref.length / 2 - 2}`);
      return;
    }
    const diff = names.filter((_, i) => a[2 * i] !== ref[2 * i] || a[2 * i + 1] !== ref[2 * i + 1]);
    if (diff.length > 0) {
      bad.push(r);
      where.push(
        `rank ${r} differs in ` +
          `${diff.slice(0, 4).join(', ')}${diff.length > 4 ? ` and ${diff.length - 4} more` : ''}`,
      );
    }
  });
  if (bad.length > 0) {
    throw new CheckpointMismatchError(
      `saveCheckpoint: ${bad.length === 1 ? 'rank' : 'ranks'} ${bad.join(', ')} ` +
        `${bad.length === 1 ? 'holds' : 'hold'} a different training state than rank 0, refusing to save ` +
        `(${where.join('; ')})`,
      bad,
    );
  }
}

/**
 * Save `state` as `dir/ckpt-<step>.safetensors` + `dir/ckpt-<step>.json` (the manifest: step, world
 * size, global batch, the data file's size and sha256, the tensor names, the extras). With a group,
 * every rank calls this: the ranks all-gather 64-bit digests of each entry and all throw
 * CheckpointMismatchError if any rank differs from rank 0; rank 0 then writes both files atomically
 * (data first, so a manifest always describes a complete file), deletes all but the newest `keep`
 * checkpoints, and tells the others whether it succeeded (a failed write throws on every rank).
 * Returns the manifest path.
 */
export async function saveCheckpoint(
  dir: string,
  state: CheckpointState,
  opts: SaveCheckpointOptions = {},
): Promise<string> {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new UsageError(`saveCheckpoint: dir must be a non-empty string, received ${describe(dir)}`);
  }
  checkState(state);
  const keep = opts.keep ?? 3;
  if (!Number.isSafeInteger(keep) || keep < 1) {
    throw new UsageError(`saveCheckpoint: keep must be an integer ≥ 1, received ${describe(keep)}`);
  }
  const group = opts.group ?? null;
  let extraJson: string;
  try {
    extraJson = JSON.stringify(state.extra);
  } catch (e) {
    throw new UsageError(`saveCheckpoint: state.extra is not JSON-serializable: ${(e as Error).message}`);
  }
  const manifestPath = join(dir, `${name(state.step)}.json`);
  if (group !== null && group.size > 1) {
    const { names, packed } = digests(state, extraJson);
    const all = (await group.allGather(packed, { tag: 'checkpoint.digest' })) as Float64Array[];
    compareDigests(all, names);
  }
  // A flag, not `failure !== null`: a thrown value may itself be null or undefined.
  let failed = false;
  let failure: unknown;
  if (group === null || group.rank === 0) {
    try {
      writeCheckpointFiles(dir, state, extraJson, keep);
    } catch (e) {
      failed = true;
      failure = e;
    }
  }
  if (group !== null && group.size > 1) {
    const status = Float64Array.of(failed ? 1 : 0);
    await group.broadcast(status, 0, { tag: 'checkpoint.written' });
    if (!failed && status[0] !== 0) {
      throw new IOError(`saveCheckpoint: rank 0 could not write ${manifestPath} (see its error)`);
    }
  }
  if (failed) throw failure;
  return manifestPath;
}

function writeCheckpointFiles(dir: string, state: CheckpointState, extraJson: string, keep: number): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new IOError(`saveCheckpoint: could not create ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const base = name(state.step);
  const bytes = encodeSafetensors(state.tensors, { format: 'syncbn-checkpoint' });
  writeFileAtomic(join(dir, `${base}.safetensors`), bytes, 'saveCheckpoint');
  const manifest: CheckpointManifest = {
    format: 'syncbn-checkpoint',
    version: 1,
    step: state.step,
    worldSize: state.worldSize,
    globalBatch: state.globalBatch,
    file: `${base}.safetensors`,
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    tensors: Object.keys(state.tensors),
    extra: JSON.parse(extraJson) as Record<string, unknown>,
  };
  writeFileAtomic(join(dir, `${base}.json`), Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`), 'saveCheckpoint');
  prune(dir, keep, state.step);
}

/** Manifest steps in `dir`, newest first. */
function listSteps(dir: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new IOError(`loadLatestCheckpoint: could not list ${dir}: ${(e as Error).message}`, { cause: e });
  }
  return entries
    .flatMap((e) => {
      const m = FILE.exec(e);
      return m === null ? [] : [Number(m[1])];
    })
    .sort((a, b) => b - a);
}

/**
 * Delete all but the newest `keep` checkpoints, and data files without a manifest older than `newest`
 * (their writer died between the two files).
 */
function prune(dir: string, keep: number, newest: number): void {
  const rm = (f: string): void => {
    try {
      unlinkSync(join(dir, f));
    } catch {
      // already gone
    }
  };
  const steps = listSteps(dir);
  // the manifest goes first: a half-deleted checkpoint has no manifest and is ignored
  for (const s of steps.slice(keep)) {
    rm(`${name(s)}.json`);
    rm(`${name(s)}.safetensors`);
  }
  const kept = new Set(steps.slice(0, keep));
  for (const f of readdirSync(dir)) {
    const m = /^ckpt-(\d{8,})\.safetensors$/.exec(f);
    if (m !== null && !kept.has(Number(m[1])) && Number(m[1]) < newest) rm(f);
  }
  // temp files of writers killed while writing other checkpoints (the current targets' were removed by writeFileAtomic)
  const temp = /^\.(ckpt-\d{8,}\.(?:json|safetensors))\.tmp-\d+-[0-9a-f]+$/;
  const targets = new Set(readdirSync(dir).flatMap((f) => temp.exec(f)?.[1] ?? []));
  for (const t of targets) removeStaleTemps(join(dir, t));
  fsyncDir(dir);
}

/**
 * Read one checkpoint by its manifest path, verifying everything: every manifest field (IOError
 * naming the field, what was expected and what was found), the data file's size and sha256, and
 * that the file holds exactly the tensors the manifest lists.
 */
export function loadCheckpoint(manifestPath: string): LoadedCheckpoint {
  let text: string;
  try {
    text = readFileSync(manifestPath, 'utf8');
  } catch (e) {
    throw new IOError(`loadCheckpoint: could not read ${manifestPath}: ${(e as Error).message}`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new IOError(`loadCheckpoint: ${manifestPath} is not JSON (${(e as Error).message})`);
  }
  const m = validateManifest(raw, manifestPath);
  const path = join(manifestPath, '..', m.file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new IOError(`loadCheckpoint: could not read ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (bytes.length !== m.bytes) {
    throw new IOError(
      `loadCheckpoint: ${path} has ${bytes.length} bytes, its manifest says ${m.bytes} ` + `(truncated or overwritten)`,
    );
  }
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== m.sha256) {
    throw new IOError(`loadCheckpoint: ${path} has sha256 ${sha}, its manifest says ${m.sha256} (corrupt)`);
  }
  const { tensors } = decodeSafetensors(bytes, path);
  const dispose = (): void => {
    for (const t of Object.values(tensors)) t.dispose();
  };
  const have = Object.keys(tensors).sort();
  const want = [...m.tensors].sort();
  if (have.join('\n') !== want.join('\n')) {
    dispose();
    throw new IOError(
      `loadCheckpoint: ${path} holds tensors [${have.join(', ')}], its manifest lists ` + `[${want.join(', ')}]`,
    );
  }
  const { step, worldSize, globalBatch, extra } = m;
  return { step, worldSize, globalBatch, tensors, extra, path, manifestPath, dispose };
}

/**
 * The newest usable checkpoint in `dir`, or null when there is none (no directory, or no manifest).
 * A checkpoint that fails verification (truncated, corrupt, bad manifest) is skipped with a warning
 * naming it and why, and the next older one is tried; if every one fails, IOError lists them all.
 */
export function loadLatestCheckpoint(dir: string, opts: LoadCheckpointOptions = {}): LoadedCheckpoint | null {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new UsageError(`loadLatestCheckpoint: dir must be a non-empty string, received ${describe(dir)}`);
  }
  const warn = opts.onWarning ?? ((msg: string) => process.emitWarning(msg, { code: 'SYNCBN_CHECKPOINT_FALLBACK' }));
  const steps = listSteps(dir);
  const failures: string[] = [];
  for (const s of steps) {
    const p = join(dir, `${name(s)}.json`);
    try {
      const ck = loadCheckpoint(p);
      if (ck.step !== s) {
        ck.dispose();
        throw new IOError(`loadCheckpoint: ${p}: field "step": expected ${s} (the file name), received ${ck.step}`);
      }
      return ck;
    } catch (e) {
      if (!(e instanceof IOError)) throw e;
      failures.push(e.message);
      warn(`checkpoint ${p} is unusable, trying the previous one: ${e.message}`);
    }
  }
  if (failures.length > 0) {
    throw new IOError(`loadLatestCheckpoint: no usable checkpoint in ${dir}: ${failures.join('; ')}`);
  }
  return null;
}
