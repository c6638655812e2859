/// <reference lib="dom" />
// The page's settings (form fields, overridable by URL parameters) and its environment checks.
import { UsageError, describe } from '../errors.js';
import type { WebTrainConfig } from './train-body.js';

/** A run as the page starts it: the training configuration, the worker count and the failure test hook. */
export interface PageSettings extends WebTrainConfig {
  workers: number;
  /** Test hook (URL only): 'throw' (failRank throws at failStep) or 'terminate' (the page ends its worker then). */
  failHow?: 'throw' | 'terminate';
}

/** A module using one SIMD instruction (i8x16.splat + i8x16.popcnt), as wasm-feature-detect probes it. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

/** What keeps this page from training, in plain words (empty when nothing does). */
export function environmentProblems(): string[] {
  const out: string[] = [];
  if (!globalThis.crossOriginIsolated) {
    out.push(
      'This page is not cross-origin isolated, so SharedArrayBuffer is unavailable and workers cannot share memory: ' +
        'serve it with `syncbn web` (it sends Cross-Origin-Opener-Policy: same-origin and ' +
        'Cross-Origin-Embedder-Policy: require-corp).',
    );
  }
  if (!WebAssembly.validate(SIMD_PROBE)) {
    out.push('This browser lacks WebAssembly SIMD, which the kernels need (Chrome 91+, Firefox 89+, Safari 16.4+).');
  }
  return out;
}

function int(name: string, raw: string | null, lo: number, hi: number): number {
  const v = Number(raw);
  if (raw === null || raw.trim() === '' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new UsageError(`${name} must be an integer in [${lo}, ${hi}], received ${describe(raw)}`);
  }
  return v;
}

/** The form's values (URL parameters already copied into it) checked; test hooks come from the URL only. */
export function readSettings(form: HTMLFormElement, params: URLSearchParams): PageSettings {
  const f = new FormData(form);
  const get = (k: string): string | null => (f.get(k) as string | null) ?? params.get(k);
  const norm = get('norm');
  if (norm !== 'syncbn' && norm !== 'bn')
    throw new UsageError(`norm must be "syncbn" or "bn", received ${describe(norm)}`);
  const lr = Number(get('lr'));
  if (!(lr > 0 && lr < 1)) throw new UsageError(`lr must be a number in (0, 1), received ${describe(get('lr'))}`);
  const s: PageSettings = {
    workers: int('workers', get('workers'), 1, 16),
    batchPerWorker: int('images per worker', get('batch'), 1, 64),
    epochs: int('epochs', get('epochs'), 1, 50),
    norm,
    train: int('training scenes', get('train'), 1, 100_000),
    val: int('validation scenes', get('val'), 1, 10_000),
    size: int('image side', get('size'), 16, 256),
    width: int('width', get('width'), 2, 64),
    lr,
    seed: int('seed', get('seed'), 0, 2 ** 30),
    gallery: params.has('gallery') ? int('gallery', params.get('gallery'), 0, 32) : 6,
    record: params.get('record') === '1',
  };
  if (s.size % 4 !== 0) throw new UsageError(`image side must be a multiple of 4, received ${s.size}`);
  if (s.train < s.workers * s.batchPerWorker) {
    throw new UsageError(
      `training scenes must be at least workers × images per worker = ${s.workers * s.batchPerWorker}, ` +
        `received ${s.train}`,
    );
  }
  const how = params.get('failHow') ?? (params.has('failRank') ? 'throw' : null);
  if (how !== null) {
    if (how !== 'throw' && how !== 'terminate')
      throw new UsageError(`failHow must be "throw" or "terminate", received ${describe(how)}`);
    s.failHow = how;
    s.failRank = int('failRank', params.get('failRank'), 0, s.workers - 1);
    s.failStep = int('failStep', params.get('failStep'), 1, 1_000_000);
  }
  return s;
}
