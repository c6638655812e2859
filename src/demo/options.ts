// `syncbn demo` options: presets (default, --quick, --full), parsing and validation with messages naming each option.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { DEMO_NORMS } from './grid.js';
import type { DemoNorm } from './types.js';

/** The settings that shape a configuration's training: the options', each rank's and the resume fingerprint's. */
export interface TrainSettings {
  epochs: number;
  /** Training and validation scenes. */
  train: number;
  val: number;
  size: number;
  width: number;
  lr: number;
}

export interface DemoOptions extends TrainSettings {
  nproc: number;
  batches: number[];
  /** The seeds of every configuration: seed, seed + 1, … (count from --seeds). */
  seeds: number[];
  norms: DemoNorm[];
  /** Validation scenes in the report's gallery. */
  gallery: number;
  out: string;
  progress: boolean;
  preset: 'default' | 'quick' | 'full';
  /** Per-configuration training checkpoints go to checkpointDir/<norm>-b<b>-s<seed>/ (undefined: none). */
  checkpointDir?: string;
  /** Checkpoint every K optimizer steps (undefined: at the end of every epoch; always at Ctrl-C). */
  checkpointEvery?: number;
  /** Skip finished configurations and continue interrupted ones from their latest checkpoint. */
  resume: boolean;
}

type Sized = Pick<DemoOptions, 'batches' | 'epochs' | 'train' | 'val' | 'size'> & { seeds: number };

/** The presets: the default fits ≤ 10 minutes on 2 cores, --quick ≤ 90 s (tests), --full is longer and steadier. */
export const PRESETS: Record<DemoOptions['preset'], Sized> = {
  default: { batches: [1, 2], seeds: 2, epochs: 4, train: 1024, val: 128, size: 48 },
  quick: { batches: [1], seeds: 1, epochs: 1, train: 16, val: 8, size: 32 },
  full: { batches: [1, 2, 4], seeds: 3, epochs: 6, train: 2048, val: 256, size: 48 },
};

/** AdamW's peak learning rate (poly-decayed): the best of 0.002, 0.005 and 0.01 on the default scenes. */
export const DEFAULT_LR = 0.005;

export const DEMO_USAGE = `usage: syncbn demo [--quick | --full] [-n N] [--batches B1,B2,…] [--seeds S] [--seed SEED]
                   [--epochs E] [--train T] [--val V] [--size PX] [--width W] [--lr LR]
                   [--norms syncbn,bn,bigbatch,groupnorm] [--gallery K] [--out DIR] [--no-progress]
                   [--checkpoint-dir DIR [--checkpoint-every K] [--resume]]

The SyncBN experiment on real handwritten digits (MNIST digits in 48×48 segmentation scenes that vary in
contrast and brightness, 11 classes):
a small DeepLab-style network trained for each per-worker batch b and seed with
  SyncBN (N worker threads × b), per-worker BN (N × b), big batch (1 worker × N·b, plain BN),
  GroupNorm (N × b)
on the same samples in the same order, so only the normalization differs. Validation in eval mode (running
statistics): mIoU and pixel accuracy, mean ± standard deviation over seeds. Writes DIR/results.json,
DIR/metrics.csv, DIR/model.safetensors (the SyncBN model of the first b and seed, reverted to BatchNorm), its ONNX
export DIR/model.onnx and DIR/index.html, after every configuration. Ctrl-C stops after the current step and
writes what is done.
  --quick            a ≤ 90 s smoke run (b = 1, one seed, 1 epoch, 16 scenes of 32×32)
  --full             longer: b = 1,2,4, 3 seeds, 6 epochs, 2048 training scenes
  -n, --nproc N      worker threads N (default 4)
  --batches LIST     per-worker batches b (default 1,2)
  --seeds S          seeds per configuration (default 2)
  --seed SEED        first seed (default 0)
  --epochs E         epochs (default ${PRESETS.default.epochs})
  --train T          training scenes (default ${PRESETS.default.train})
  --val V            validation scenes (default ${PRESETS.default.val})
  --size PX          scene side in pixels, a multiple of 4 in [16, 256] (default ${PRESETS.default.size})
  --width W          channels of the network's stem, the body has 2·W (default 16)
  --lr LR            AdamW learning rate, poly-decayed (default ${DEFAULT_LR})
  --norms LIST       which normalizations (default all four)
  --gallery K        validation scenes in the report's gallery (default 6)
  --out DIR          output directory (default ./syncbn-report)
  --no-progress      no progress bar (it is off anyway when stdout is not a terminal)
  --checkpoint-dir D training checkpoints per configuration in D/<norm>-b<b>-s<seed>/ (and its result when done)
  --checkpoint-every K  checkpoint every K steps (default: at the end of every epoch; always at Ctrl-C)
  --resume           skip the configurations finished in D, continue the others from their latest checkpoint
                     (bitwise the same weights and metrics as an uninterrupted run; same options and -n)`;

const VALUE_OPTS: Record<string, string> = {
  '-n': 'nproc',
  '--nproc': 'nproc',
  '--batches': 'batches',
  '--seeds': 'seeds',
  '--seed': 'seed',
  '--epochs': 'epochs',
  '--train': 'train',
  '--val': 'val',
  '--size': 'size',
  '--width': 'width',
  '--lr': 'lr',
  '--norms': 'norms',
  '--gallery': 'gallery',
  '--out': 'out',
  '--checkpoint-dir': 'checkpoint-dir',
  '--checkpoint-every': 'checkpoint-every',
};

/**
 * Join every value-taking option with its value (`-n -1` → `--nproc=-1`), so a value that starts with a dash
 * reaches our validation (parseArgs would call it ambiguous) and the message names the option and the value.
 */
function joinValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const long = VALUE_OPTS[a];
    if (long !== undefined && i + 1 < argv.length) out.push(`--${long}=${argv[++i]!}`);
    else out.push(a);
  }
  return out;
}

function bad(name: string, want: string, v: string | number): never {
  throw new UsageError(
    `syncbn demo: --${name} must be ${want}, received ${typeof v === 'string' ? JSON.stringify(v) : v}`,
  );
}

function int(name: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) bad(name, `an integer in [${min}, ${max}]`, v);
  return n;
}

/** --checkpoint-dir, --checkpoint-every, --resume: the latter two need the first; K ≥ 1. */
function parseCheckpointArgs(o: DemoOptions, dir: string | undefined, every: string | undefined): void {
  if (dir !== undefined) {
    if (dir.trim() === '') bad('checkpoint-dir', 'a directory path', dir);
    o.checkpointDir = resolve(dir);
  }
  if (every !== undefined) {
    if (dir === undefined) {
      throw new UsageError('syncbn demo: --checkpoint-every needs --checkpoint-dir DIR (where to write them)');
    }
    o.checkpointEvery = int('checkpoint-every', every, 1, 1, 1_000_000_000);
  }
  if (o.resume && dir === undefined) {
    throw new UsageError('syncbn demo: --resume needs --checkpoint-dir DIR (the checkpoints to resume from)');
  }
}

/** Parse and validate `syncbn demo`'s arguments (UsageError names the option, the expectation and the value). */
export function parseDemoArgs(argv: readonly string[]): DemoOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: joinValues(argv),
      options: {
        nproc: { type: 'string', short: 'n' },
        batches: { type: 'string' },
        seeds: { type: 'string' },
        seed: { type: 'string' },
        epochs: { type: 'string' },
        train: { type: 'string' },
        val: { type: 'string' },
        size: { type: 'string' },
        width: { type: 'string' },
        lr: { type: 'string' },
        norms: { type: 'string' },
        gallery: { type: 'string' },
        out: { type: 'string' },
        quick: { type: 'boolean' },
        full: { type: 'boolean' },
        'no-progress': { type: 'boolean' },
        'checkpoint-dir': { type: 'string' },
        'checkpoint-every': { type: 'string' },
        resume: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError(`syncbn demo: ${(e as Error).message}`);
  }
  if (values.quick === true && values.full === true)
    throw new UsageError('syncbn demo: --quick and --full exclude each other, received both');
  const preset = values.quick === true ? 'quick' : values.full === true ? 'full' : 'default';
  const p = PRESETS[preset];
  const nproc = int('nproc', values.nproc, 4, 1, 64);
  let batches = p.batches;
  if (values.batches !== undefined) {
    const parts = values.batches.split(',');
    if (
      parts.some((s) => !/^\s*\d+\s*$/.test(s) || Number(s) < 1 || Number(s) > 64) ||
      new Set(parts.map(Number)).size !== parts.length
    ) {
      bad('batches', 'a comma-separated list of distinct integers in [1, 64]', values.batches);
    }
    batches = parts.map(Number);
  }
  let norms = [...DEMO_NORMS];
  if (values.norms !== undefined) {
    const parts = values.norms.split(',').map((s) => s.trim());
    if (parts.some((s) => !DEMO_NORMS.includes(s as DemoNorm)) || new Set(parts).size !== parts.length) {
      bad('norms', `a comma-separated list of distinct names among ${DEMO_NORMS.join(', ')}`, values.norms);
    }
    norms = parts as DemoNorm[];
  }
  const seed = int('seed', values.seed, 0, 0, 2 ** 30 - 1000);
  const seeds = int('seeds', values.seeds, p.seeds, 1, 100);
  const o: DemoOptions = {
    nproc,
    batches,
    seeds: Array.from({ length: seeds }, (_, i) => seed + i),
    norms,
    epochs: int('epochs', values.epochs, p.epochs, 1, 1000),
    train: int('train', values.train, p.train, 1, 1_000_000),
    val: int('val', values.val, p.val, 1, 1_000_000),
    size: int('size', values.size, p.size, 16, 256),
    width: int('width', values.width, 16, 1, 256),
    lr: DEFAULT_LR,
    gallery: int('gallery', values.gallery, 6, 0, 64),
    out: resolve(values.out ?? 'syncbn-report'),
    progress: values['no-progress'] !== true,
    preset,
    resume: values.resume === true,
  };
  parseCheckpointArgs(o, values['checkpoint-dir'], values['checkpoint-every']);
  if (values.lr !== undefined) {
    const lr = Number(values.lr);
    if (values.lr.trim() === '' || !(lr > 0 && Number.isFinite(lr))) bad('lr', 'a positive number', values.lr);
    o.lr = lr;
  }
  if (o.size % 4 !== 0) bad('size', 'a multiple of 4 (the network downsamples by 4)', o.size);
  const step = nproc * Math.max(...batches);
  if (o.train < step) bad('train', `at least nproc × the largest batch = ${step} (one step)`, o.train);
  return o;
}
