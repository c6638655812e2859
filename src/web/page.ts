/// <reference lib="dom" />
// The `syncbn web` page: settings form, a training run over Web Workers (launch.ts), live charts, the final result.
import { DigitScenes } from '../data/digit-scenes.js';
import { unpackDigits } from '../data/digits.js';
import { rootCause, type RankOutcome } from '../comm/outcome.js';
import { startThreads, type WebLaunch } from './launch.js';
import type { TrainEvent, WebTrainConfig, WebTrainResult } from './train-body.js';
import { galleryItem, lineChart } from './view.js';
import { readSettings, environmentProblems, type PageSettings } from './settings.js';

/** What the page publishes when a run ends (window.syncbnResult and the JSON element #result); see docs/web.md. */
export interface PageResult extends WebTrainResult {
  ok: boolean;
  config: WebTrainConfig & { workers: number };
  crossOriginIsolated: boolean;
  // From WebTrainResult, rank 0's: per-epoch metrics (empty when the run failed before its first epoch), step times
  // (ms) and, with record=1, the global loss of every step and the final state dict.
  /** The failure to show (rootCause over the ranks) and every rank's error, when the run failed. */
  error?: RankFailure;
  rankErrors?: RankFailure[];
}

/** One rank's error as the page shows and publishes it. */
export interface RankFailure {
  rank: number;
  name: string;
  message: string;
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
let current: WebLaunch<WebTrainResult> | null = null;
let stopper: AbortController | null = null;
let digitsPromise: Promise<SharedArrayBuffer> | null = null;

/** /digits.bin (packed MNIST digits, served by `syncbn web`) copied once into shared memory for every worker. */
function loadDigits(): Promise<SharedArrayBuffer> {
  digitsPromise ??= fetch(new URL('./digits.bin', import.meta.url)).then(async (r) => {
    if (!r.ok) throw new Error(`GET digits.bin: HTTP ${r.status}`);
    const bytes = new Uint8Array(await r.arrayBuffer());
    const sab = new SharedArrayBuffer(bytes.byteLength);
    new Uint8Array(sab).set(bytes);
    return sab;
  });
  return digitsPromise;
}

function setStatus(text: string, error = false): void {
  const s = $('status');
  s.textContent = text;
  s.className = error ? 'error' : '';
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2 === 1
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function publish(result: PageResult): void {
  (window as unknown as { syncbnResult: PageResult }).syncbnResult = result;
  $('result').textContent = JSON.stringify(result);
  document.body.dataset.state = result.ok ? 'done' : 'failed';
  window.dispatchEvent(new CustomEvent('syncbn:result', { detail: result }));
}

async function train(s: PageSettings): Promise<void> {
  const { workers, failHow, failRank, failStep, ...cfg } = s;
  document.body.dataset.state = 'running';
  $<HTMLButtonElement>('start').disabled = true;
  $<HTMLButtonElement>('stop').disabled = false;
  $('gallery').replaceChildren();
  setStatus('Loading the digits…');
  const digits = await loadDigits();
  const losses: number[] = [];
  const mious: number[] = [];
  const stepMs: number[] = [];
  let total = 1;
  const onEvent = (_rank: number, data: unknown): void => {
    const e = data as TrainEvent;
    if (e.type === 'start') {
      total = Math.max(1, e.stepsPerEpoch * e.epochs);
      setStatus(`Training: ${workers} worker(s) × ${cfg.batchPerWorker} images, ${e.stepsPerEpoch} steps per epoch.`);
    } else if (e.type === 'step') {
      losses.push(e.loss);
      stepMs.push(e.ms);
      $<HTMLProgressElement>('progress').value = e.done / total;
      if (e.done % 4 === 0 || e.done === total) lineChart($('loss-chart') as unknown as SVGSVGElement, losses);
      const ms = median(stepMs.slice(-20));
      $('stepms').textContent = `${ms.toFixed(1)} ms`;
      $('ips').textContent = ((1000 * workers * cfg.batchPerWorker) / ms).toFixed(1);
      if (failHow === 'terminate' && e.done === (failStep ?? 0) - 1) current?.kill(failRank ?? 0);
    } else if (e.type === 'epoch') {
      mious.push(e.miou);
      lineChart($('miou-chart') as unknown as SVGSVGElement, mious, { lo: 0, hi: 1 });
      $('miou').textContent = e.miou.toFixed(3);
      setStatus(`Epoch ${e.epoch}/${cfg.epochs}: train loss ${e.trainLoss.toFixed(3)}, val mIoU ${e.miou.toFixed(3)}.`);
    } else if (e.type === 'gallery') {
      const val = new DigitScenes({
        split: 'val',
        length: cfg.val,
        size: cfg.size,
        seed: cfg.seed,
        digits: unpackDigits(digits),
      });
      e.predictions.forEach((p, i) => {
        const scene = val.get(i);
        $('gallery').append(galleryItem(i, cfg.size, scene.image, p, scene.label));
      });
    }
  };
  const inject = failHow === 'throw' ? { failRank, failStep } : {};
  stopper = new AbortController();
  const body = new URL('./train-body.js', import.meta.url);
  current = startThreads<WebTrainResult>(workers, body, [JSON.stringify({ ...cfg, ...inject })], {
    data: digits,
    onEvent,
    signal: stopper.signal,
  });
  const outcomes = await current.outcomes;
  current = null;
  $<HTMLButtonElement>('start').disabled = false;
  $<HTMLButtonElement>('stop').disabled = true;
  report(s, outcomes, stepMs);
}

function report(s: PageSettings, outcomes: RankOutcome<WebTrainResult>[], stepMs: number[]): void {
  const { failHow: _h, ...cfg } = s;
  const base = { config: cfg, crossOriginIsolated: window.crossOriginIsolated };
  const cause = rootCause(outcomes);
  const first = outcomes[0]!;
  if (cause === null && first.ok) {
    const v = first.value;
    publish({
      ok: true,
      ...base,
      epochs: v.epochs,
      stepMs: v.stepMs,
      ...(v.losses ? { losses: v.losses } : {}),
      ...(v.state ? { state: v.state } : {}),
    });
    const last = v.epochs.at(-1);
    setStatus(`Done: ${v.stepMs.length} steps${last ? `, val mIoU ${last.miou.toFixed(3)}` : ''}.`);
    return;
  }
  const rankErrors = outcomes.flatMap((o) =>
    o.ok ? [] : [{ rank: o.rank, name: o.error.name, message: o.error.message }],
  );
  const error =
    cause !== null ? { rank: cause.rank, name: cause.error.name, message: cause.error.message } : rankErrors[0]!;
  publish({ ok: false, ...base, epochs: [], stepMs, error, rankErrors });
  if (stopper?.signal.aborted === true) return setStatus(`Stopped after ${stepMs.length} steps.`);
  setStatus(
    `Training failed: rank ${error.rank}: ${error.name}: ${error.message}` +
      rankErrors
        .filter((e) => e.rank !== error.rank)
        .map((e) => `; rank ${e.rank}: ${e.name}: ${e.message}`)
        .join(''),
    true,
  );
}

function main(): void {
  const problems = environmentProblems();
  $('env').textContent = problems.join(' ');
  const form = $<HTMLFormElement>('controls');
  const params = new URLSearchParams(location.search);
  for (const [k, v] of params) {
    const input = form.elements.namedItem(k);
    if (input instanceof HTMLInputElement) input.value = v;
    else if (input instanceof RadioNodeList) input.value = v;
  }
  const go = (): void => {
    let s: PageSettings;
    try {
      s = readSettings(form, params);
    } catch (e) {
      setStatus((e as Error).message, true);
      return;
    }
    train(s).catch((e: unknown) => {
      setStatus(`Training failed: ${(e as Error).message}`, true);
      publish({
        ok: false,
        config: { ...s, workers: s.workers },
        crossOriginIsolated: window.crossOriginIsolated,
        epochs: [],
        stepMs: [],
        error: { rank: -1, name: (e as Error).name, message: (e as Error).message },
      });
    });
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (problems.length === 0) go();
  });
  $('stop').addEventListener('click', () => stopper?.abort('stopped from the page'));
  if (problems.length > 0) $<HTMLButtonElement>('start').disabled = true;
  else if (params.get('autostart') === '1') go();
}

main();
