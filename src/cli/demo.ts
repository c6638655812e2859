// `syncbn demo`: data-parallel training of a segmentation CNN with SyncBN on synthetic shapes, across N thread workers.
import { parseArgs } from 'node:util';
import { BroadcastChannel } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { formatRankError, rootCause, spawnThreads } from '../comm/index.js';
import { UsageError } from '../errors.js';
import type { DemoConfig, DemoEvent, DemoResult } from './demo-train.js';
import type { Command } from './main.js';

const USAGE = `usage: syncbn demo [-n N] [--epochs E] [--batch B] [--samples S] [--val V] [--size PX]
                   [--lr LR] [--seed SEED] [--compare] [--save model.safetensors] [--no-progress]

Trains a small segmentation CNN (dilated 3×3 convolutions, SyncBatchNorm, ReLU, 1×1 classifier,
bilinear ×4 upsampling; per-pixel cross-entropy that ignores shape rims) on procedurally generated
images of discs, squares and triangles, data-parallel across N worker threads (DDP + SyncBN).
After every epoch it prints the training loss and, on a held-out set, loss, pixel accuracy and mIoU.
  -n, --nproc N      worker threads (default 2)
  --epochs E         epochs (default 5)
  --batch B          images per worker per step (default 2)
  --samples S        training images in all (default 128)
  --val V            validation images (default 32)
  --size PX          image side in pixels, a multiple of 4 (default 32)
  --lr LR            SGD learning rate, poly-decayed (default 0.05)
  --seed SEED        data, shuffle and initialization seed (default 0)
  --compare          also train the same run with plain per-worker BatchNorm and compare
  --save PATH        write the trained model (SyncBN reverted to BatchNorm) as safetensors
  --no-progress      no progress bar (it is off anyway when stdout is not a terminal)`;

export interface DemoOptions extends Omit<DemoConfig, 'sync' | 'channel'> {
  nproc: number;
  compare: boolean;
  progress: boolean;
}

function int(name: string, v: string | undefined, def: number, min: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`syncbn demo: --${name} must be an integer ≥ ${min}, received ${JSON.stringify(v)}`);
  return n;
}

/** Parse and validate the command line (UsageError names the option, the expectation and the value). */
export function parseDemoArgs(argv: string[]): DemoOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        nproc: { type: 'string', short: 'n' },
        epochs: { type: 'string' },
        batch: { type: 'string' },
        samples: { type: 'string' },
        val: { type: 'string' },
        size: { type: 'string' },
        lr: { type: 'string' },
        seed: { type: 'string' },
        compare: { type: 'boolean' },
        save: { type: 'string' },
        'no-progress': { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError(`syncbn demo: ${(e as Error).message}`);
  }
  const o: DemoOptions = {
    nproc: int('nproc', values.nproc, 2, 1),
    epochs: int('epochs', values.epochs, 5, 1),
    batch: int('batch', values.batch, 2, 1),
    samples: int('samples', values.samples, 128, 1),
    val: int('val', values.val, 32, 1),
    size: int('size', values.size, 32, 8),
    lr: values.lr === undefined ? 0.05 : Number(values.lr),
    seed: int('seed', values.seed, 0, 0),
    compare: values.compare === true,
    progress: values['no-progress'] !== true,
  };
  if (values.save !== undefined) o.save = resolve(values.save);
  if (o.nproc > 64) throw new UsageError(`syncbn demo: --nproc must be at most 64, received ${o.nproc}`);
  if (o.size % 4 !== 0) throw new UsageError(`syncbn demo: --size must be a multiple of 4 (the network downsamples by 4), received ${o.size}`);
  if (!(o.lr > 0 && Number.isFinite(o.lr))) throw new UsageError(`syncbn demo: --lr must be a positive number, received ${JSON.stringify(values.lr)}`);
  if (o.samples < o.nproc * o.batch) {
    throw new UsageError(`syncbn demo: --samples must be at least nproc × batch = ${o.nproc * o.batch} (one step), received ${o.samples}`);
  }
  return o;
}

const pct = (v: number): string => `${(100 * v).toFixed(1)} %`;

function epochLine(e: Extract<DemoEvent, { type: 'epoch' }>, epochs: number): string {
  return `epoch ${e.epoch + 1}/${epochs}  train loss ${e.trainLoss.toFixed(4)}  val loss ${e.valLoss.toFixed(4)}  pixel acc ${pct(e.pixelAccuracy)}  mIoU ${e.meanIoU.toFixed(3)}  (${e.seconds.toFixed(1)} s, ${e.samplesPerSecond.toFixed(0)} img/s)`;
}

/**
 * Run one training across `o.nproc` threads; `onEvent` sees rank 0's progress. Resolves with rank
 * 0's per-epoch results; rejects with the root-cause error (prefixed with its rank) if a rank fails.
 */
export async function runDemo(o: DemoOptions, sync: boolean, onEvent: (e: DemoEvent) => void = () => {}): Promise<DemoResult> {
  const channel = `syncbn-demo-${randomBytes(6).toString('hex')}`;
  const bc = new BroadcastChannel(channel);
  bc.onmessage = (m: unknown) => onEvent((m as { data: DemoEvent }).data);
  const cfg: DemoConfig = { epochs: o.epochs, batch: o.batch, samples: o.samples, val: o.val, size: o.size, lr: o.lr, seed: o.seed, sync, channel };
  if (o.save !== undefined && sync) cfg.save = o.save;
  try {
    const outs = await spawnThreads<DemoResult>(
      o.nproc,
      async (pg, args) => ((await import(args[0]!)) as typeof import('./demo-train.js')).demoRank(pg, JSON.parse(args[1]!) as DemoConfig),
      [new URL('./demo-train.js', import.meta.url).href, JSON.stringify(cfg)],
    );
    const failure = rootCause(outs);
    if (failure !== null) throw new Error(`demo failed:\n${formatRankError(failure.rank, failure.error)}`);
    // let the last progress messages arrive before the channel closes
    await new Promise((r) => setImmediate(r));
    return (outs[0] as Extract<(typeof outs)[number], { ok: true }>).value;
  } finally {
    bc.close();
  }
}

/** One labelled run with a progress bar (TTY) and a line per epoch. */
async function runWithDisplay(o: DemoOptions, sync: boolean): Promise<DemoResult> {
  const label = sync ? 'SyncBatchNorm' : 'per-worker BatchNorm';
  const out = process.stdout;
  out.write(`\n== ${label}: ${o.nproc} worker thread(s) × ${o.batch} image(s) per step = global batch ${o.nproc * o.batch}, ${o.size}×${o.size} px\n`);
  const bar = o.progress && out.isTTY === true
    ? new cliProgress.SingleBar({ format: ' {bar} {percentage}% | epoch {epoch} | step {value}/{total} | loss {loss}', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : null;
  let epochs = o.epochs;
  const res = await runDemo(o, sync, (e) => {
    if (e.type === 'start') {
      epochs = e.epochs;
      bar?.start(e.stepsPerEpoch * e.epochs, 0, { epoch: `1/${e.epochs}`, loss: '-' });
    } else if (e.type === 'step') {
      bar?.update(e.epoch * (bar.getTotal() / epochs) + e.step, { epoch: `${e.epoch + 1}/${epochs}`, loss: e.loss.toFixed(4) });
    } else {
      bar?.stop();
      out.write(epochLine(e, epochs) + '\n');
      if (e.epoch + 1 < epochs) bar?.start(bar.getTotal(), (e.epoch + 1) * (bar.getTotal() / epochs), { epoch: `${e.epoch + 2}/${epochs}`, loss: '-' });
    }
  });
  bar?.stop();
  return res;
}

async function main(argv: string[]): Promise<number> {
  let o: DemoOptions;
  try {
    o = parseDemoArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n\n${USAGE}\n`);
    return 2;
  }
  try {
    const synced = await runWithDisplay(o, true);
    if (o.save !== undefined) process.stdout.write(`saved ${o.save}\n`);
    if (o.compare) {
      const local = await runWithDisplay(o, false);
      const a = synced.epochs.at(-1)!;
      const b = local.epochs.at(-1)!;
      process.stdout.write(
        [
          '',
          `after ${o.epochs} epoch(s), per-worker batch ${o.batch}:`,
          `                       val loss   pixel acc   mIoU`,
          `  SyncBatchNorm        ${a.valLoss.toFixed(4).padStart(8)}   ${pct(a.pixelAccuracy).padStart(9)}   ${a.meanIoU.toFixed(3)}`,
          `  per-worker BatchNorm ${b.valLoss.toFixed(4).padStart(8)}   ${pct(b.pixelAccuracy).padStart(9)}   ${b.meanIoU.toFixed(3)}`,
          '',
        ].join('\n'),
      );
    }
    return 0;
  } catch (e) {
    process.stderr.write(`syncbn demo: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

/** The `demo` entry of the CLI's command table. */
export const demoCommand: Command = {
  summary: 'train a small segmentation CNN with SyncBN across N worker threads (synthetic shapes)',
  usage: USAGE,
  main,
};
