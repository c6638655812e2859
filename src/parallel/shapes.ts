// A procedurally generated segmentation dataset: noisy RGB images of random shapes with per-pixel class labels.
import { UsageError, describe } from '../errors.js';
import { Rng } from './rng.js';

/** Class 0 is background; each shape kind is a class. */
export const SHAPE_CLASSES = ['background', 'disc', 'square', 'triangle'] as const;
/** Label of pixels on a shape's boundary band: ambiguous, so left out of the loss and the metrics. */
export const IGNORE_INDEX = 255;

export interface ShapesOptions {
  /** Number of samples. */
  length: number;
  /** Image side in pixels (square images). Default 32. */
  size?: number;
  /** Dataset seed: sample i is a pure function of (seed, i). Default 0. */
  seed?: number;
  /** Shapes per image, at most. Default 3. */
  maxShapes?: number;
}

export interface ShapesSample {
  /** 3·size·size floats, CHW, roughly zero-mean unit-scale. */
  image: Float32Array;
  /** size·size labels in 0..3 or IGNORE_INDEX. */
  label: Int32Array;
}

// Each class has a base colour; a sample jitters it, so colour is a strong but imperfect cue and the
// net must also use shape and context (the boundary band and overlaps make the task non-trivial).
const BASE: readonly (readonly [number, number, number])[] = [
  [0, 0, 0],
  [0.9, 0.3, 0.2],
  [0.3, 0.8, 0.3],
  [0.25, 0.35, 0.9],
];

/** Random shapes on a textured background. `get(i)` is deterministic, so each rank can build only its shard. */
export class ShapesDataset {
  readonly length: number;
  readonly size: number;
  readonly seed: number;
  readonly maxShapes: number;

  constructor(opts: ShapesOptions) {
    const { length, size = 32, seed = 0, maxShapes = 3 } = opts;
    if (!Number.isSafeInteger(length) || length < 0) throw new UsageError(`ShapesDataset: length must be a non-negative integer, received ${describe(length)}`);
    if (!Number.isInteger(size) || size < 8 || size > 1024) throw new UsageError(`ShapesDataset: size must be an integer in [8, 1024], received ${describe(size)}`);
    if (!Number.isSafeInteger(seed)) throw new UsageError(`ShapesDataset: seed must be a safe integer, received ${describe(seed)}`);
    if (!Number.isInteger(maxShapes) || maxShapes < 1) throw new UsageError(`ShapesDataset: maxShapes must be an integer ≥ 1, received ${describe(maxShapes)}`);
    this.length = length;
    this.size = size;
    this.seed = seed;
    this.maxShapes = maxShapes;
  }

  get(i: number): ShapesSample {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new UsageError(`ShapesDataset.get: index must be an integer in [0, ${this.length - 1}], received ${describe(i)}`);
    const n = this.size;
    const rng = new Rng(this.seed * 1_000_003 + i);
    const image = new Float32Array(3 * n * n);
    const label = new Int32Array(n * n);
    // background: a smooth random gradient plus noise, channel by channel
    const g = [0, 1, 2].map(() => [rng.float() - 0.5, rng.float() - 0.5, rng.float() * 0.4]);
    for (let ch = 0; ch < 3; ch++) {
      const [gx, gy, b] = g[ch]!;
      for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) image[(ch * n + y) * n + x] = b + 0.4 * (gx! * x + gy! * y) / n;
    }
    const shapes = 1 + rng.int(this.maxShapes);
    for (let s = 0; s < shapes; s++) {
      const cls = 1 + rng.int(3);
      const r = n * (0.12 + 0.14 * rng.float());
      const cx = r + rng.float() * (n - 2 * r);
      const cy = r + rng.float() * (n - 2 * r);
      const colour = BASE[cls]!.map((v) => v + 0.25 * (rng.float() - 0.5));
      const inside = insideFn(cls, cx, cy, r, rng.float() * Math.PI * 2);
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++) {
          const d = inside(x + 0.5, y + 0.5); // signed distance-ish: > 0 inside
          if (d < -0.75) continue;
          const p = y * n + x;
          if (d > 0.75) {
            label[p] = cls;
            for (let ch = 0; ch < 3; ch++) image[(ch * n + y) * n + x] = colour[ch]!;
          } else {
            // the anti-aliased rim: blended colour, ignored label
            label[p] = IGNORE_INDEX;
            const a = (d + 0.75) / 1.5;
            for (let ch = 0; ch < 3; ch++) {
              const q = (ch * n + y) * n + x;
              image[q] = a * colour[ch]! + (1 - a) * image[q]!;
            }
          }
        }
      }
    }
    for (let q = 0; q < image.length; q++) image[q] = (image[q]! - 0.35) * 2.5 + 0.25 * rng.normal();
    return { image, label };
  }

  /** Samples `indices` stacked: images N×3×H×W, labels N×H×W. */
  batch(indices: readonly number[]): { images: Float32Array; labels: Int32Array } {
    const hw = this.size * this.size;
    const images = new Float32Array(indices.length * 3 * hw);
    const labels = new Int32Array(indices.length * hw);
    indices.forEach((idx, k) => {
      const s = this.get(idx);
      images.set(s.image, k * 3 * hw);
      labels.set(s.label, k * hw);
    });
    return { images, labels };
  }
}

/** A function (x, y) → signed distance in pixels to the shape's edge (positive inside). */
function insideFn(cls: number, cx: number, cy: number, r: number, angle: number): (x: number, y: number) => number {
  if (cls === 1) return (x, y) => r - Math.hypot(x - cx, y - cy);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  if (cls === 2) {
    const h = r * 0.85;
    return (x, y) => {
      const u = (x - cx) * cos + (y - cy) * sin;
      const v = -(x - cx) * sin + (y - cy) * cos;
      return h - Math.max(Math.abs(u), Math.abs(v));
    };
  }
  // equilateral triangle: the minimum over its three edge half-planes
  return (x, y) => {
    let d = Infinity;
    for (let k = 0; k < 3; k++) {
      const a = angle + (k * 2 * Math.PI) / 3;
      d = Math.min(d, r * 0.5 - ((x - cx) * Math.cos(a) + (y - cy) * Math.sin(a)));
    }
    return d;
  };
}

/** Confusion-matrix metrics over labelled pixels (IGNORE_INDEX skipped). */
export class SegMetrics {
  readonly k: number;
  readonly confusion: Float64Array;
  constructor(numClasses: number) {
    this.k = numClasses;
    this.confusion = new Float64Array(numClasses * numClasses);
  }
  /** pred, label: one class per pixel. */
  add(pred: ArrayLike<number>, label: ArrayLike<number>): void {
    for (let i = 0; i < label.length; i++) {
      const t = label[i]!;
      if (t === IGNORE_INDEX) continue;
      this.confusion[t * this.k + pred[i]!]!++;
    }
  }
  /** Correct / labelled pixels. */
  pixelAccuracy(): number {
    let ok = 0;
    let all = 0;
    for (let t = 0; t < this.k; t++) for (let p = 0; p < this.k; p++) {
      all += this.confusion[t * this.k + p]!;
      if (t === p) ok += this.confusion[t * this.k + p]!;
    }
    return all === 0 ? 0 : ok / all;
  }
  /** Mean over classes present in labels or predictions of TP / (TP + FP + FN). */
  meanIoU(): number {
    let sum = 0;
    let classes = 0;
    for (let c = 0; c < this.k; c++) {
      const tp = this.confusion[c * this.k + c]!;
      let fp = 0;
      let fn = 0;
      for (let o = 0; o < this.k; o++) {
        if (o === c) continue;
        fp += this.confusion[o * this.k + c]!;
        fn += this.confusion[c * this.k + o]!;
      }
      if (tp + fp + fn === 0) continue;
      sum += tp / (tp + fp + fn);
      classes++;
    }
    return classes === 0 ? 0 : sum / classes;
  }
}
