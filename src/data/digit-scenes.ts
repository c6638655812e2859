// DigitScenes: semantic-segmentation scenes of real handwritten MNIST digits on a textured, noisy background.
import { UsageError, describe } from '../errors.js';
import { RandomGenerator } from '../tensor/random.js';
import { DIGIT_SIDE, type DigitClass } from './digits.js';
import { loadDigits } from './mnist.js';
import { IGNORE_INDEX } from './seg-metrics.js';

/** Classes of a DigitScenes label map: 0 background, d + 1 for digit d. */
export const DIGIT_SCENE_CLASSES = 11;

/** Mean and standard deviation that `batch()` removes from the pixels (measured over scenes, rounded). */
export const DIGIT_SCENE_MEAN = 0.22;
/** See DIGIT_SCENE_MEAN. */
export const DIGIT_SCENE_STD = 0.23;

/** How a DigitScenes dataset draws its scenes. */
export interface DigitScenesOptions {
  /** 'train' or 'val': the two splits draw their digits from disjoint MNIST images. */
  split: 'train' | 'val';
  /** Number of scenes. */
  length: number;
  /** Canvas side in pixels (square). Default 64. */
  size?: number;
  /** Scene i is a pure function of (seed, split, i). Default 0. */
  seed?: number;
  /** Digits per scene: 1…maxDigits, uniformly. Default 3. */
  maxDigits?: number;
  /** A digit's side is scale × size/2 with scale uniform in [minScale, maxScale]. Default 0.8 and 1.5. */
  minScale?: number;
  maxScale?: number;
  /** Fraction of each class's MNIST images (the first ones) that the train split uses. Default 0.85. */
  trainFraction?: number;
  /**
   * A digit's labelled region is its ink (resampled value ≥ 0.5) grown by a disc of this radius in pixels. Default 2:
   * a stroke is 2–4 px wide, thinner than the network's output stride; the grown region is the digit's area.
   */
  grow?: number;
  /**
   * Per-scene contrast: the scene's pixels are multiplied by a gain uniform in [1 − contrast, 1 + contrast]. Default
   * 0.5. Real photographs differ in exposure and contrast from one image to the next; this between-image variance
   * is what a batch of one image cannot estimate (see the demo).
   */
  contrast?: number;
  /** Per-scene brightness: an offset uniform in [−brightness, brightness] is added to the pixels. Default 0.25. */
  brightness?: number;
  /**
   * The 10 digit classes to draw from. Default (Node): the installed `mnist` package, read once per thread. A browser
   * must give them (e.g. `unpackDigits` of the /digits.bin that `syncbn web` serves: the same digits, bit for bit).
   */
  digits?: readonly DigitClass[];
}

/** Where one digit of a scene was drawn (in placement order: later digits cover earlier ones). */
export interface DigitPlacement {
  /** The digit's class 0–9 (its label is digit + 1). */
  digit: number;
  /** Index of the MNIST image within its class. */
  source: number;
  /** Top-left corner and side of the digit's square box on the canvas. */
  x: number;
  y: number;
  side: number;
}

/** One scene: image, per-pixel labels and the digits placed in it. */
export interface DigitScene {
  /** size·size grayscale pixels in [0, 1], row-major. */
  image: Float32Array;
  /** size·size labels: 0 background, digit + 1, or IGNORE_INDEX (255) on each digit's rim. */
  label: Uint8Array;
  digits: DigitPlacement[];
  /** The scene's photometric transform: pixel = clamp(offset + gain · clean pixel, 0, 1). */
  gain: number;
  offset: number;
}

/**
 * Scenes of 1–`maxDigits` MNIST digits, bilinearly resampled to random sizes and positions (possibly overlapping)
 * on a smooth random texture plus pixel noise, then a random contrast and brightness per scene (`contrast`,
 * `brightness`). Labels follow the visible (last drawn) digit on its region (the pixels
 * within `grow` of its ink ≥ 0.5); the one-pixel rim around each region (its dilation minus itself) is IGNORE_INDEX,
 * as Pascal VOC's boundary band. `get(i)` builds only scene i, so each rank
 * of a data-parallel job builds only its own shard; the digit images are read once per thread.
 */
export class DigitScenes {
  readonly split: 'train' | 'val';
  readonly length: number;
  readonly size: number;
  readonly seed: number;
  readonly maxDigits: number;
  readonly minScale: number;
  readonly maxScale: number;
  readonly trainFraction: number;
  readonly grow: number;
  readonly contrast: number;
  readonly brightness: number;
  private readonly givenDigits: readonly DigitClass[] | null;

  constructor(opts: DigitScenesOptions) {
    const {
      split,
      length,
      size = 64,
      seed = 0,
      maxDigits = 3,
      minScale = 0.8,
      maxScale = 1.5,
      trainFraction = 0.85,
      grow = 2,
      contrast = 0.5,
      brightness = 0.25,
      digits = null,
    } = opts;
    const fail = (name: string, want: string, v: unknown): never => {
      throw new UsageError(`DigitScenes: ${name} must be ${want}, received ${describe(v)}`);
    };
    if (split !== 'train' && split !== 'val') fail('split', '"train" or "val"', split);
    if (!Number.isSafeInteger(length) || length < 0 || length > 2_000_000)
      fail('length', 'an integer in [0, 2000000]', length);
    if (!Number.isInteger(size) || size < 8 || size > 1024) fail('size', 'an integer in [8, 1024]', size);
    if (!Number.isSafeInteger(seed) || seed < 0 || seed > 2 ** 30) fail('seed', 'an integer in [0, 2^30]', seed);
    if (!Number.isInteger(maxDigits) || maxDigits < 1 || maxDigits > 16)
      fail('maxDigits', 'an integer in [1, 16]', maxDigits);
    if (!(minScale > 0 && minScale <= 2)) fail('minScale', 'a number in (0, 2]', minScale);
    if (!(maxScale >= minScale && maxScale <= 2)) fail('maxScale', `a number in [minScale = ${minScale}, 2]`, maxScale);
    if (!(trainFraction > 0 && trainFraction < 1)) fail('trainFraction', 'a number in (0, 1)', trainFraction);
    if (!Number.isInteger(grow) || grow < 0 || grow > 8) fail('grow', 'an integer in [0, 8]', grow);
    this.split = split;
    this.length = length;
    this.size = size;
    this.seed = seed;
    this.maxDigits = maxDigits;
    this.minScale = minScale;
    this.maxScale = maxScale;
    this.trainFraction = trainFraction;
    if (!(contrast >= 0 && contrast < 1)) fail('contrast', 'a number in [0, 1)', contrast);
    if (!(brightness >= 0 && brightness <= 1)) fail('brightness', 'a number in [0, 1]', brightness);
    if (digits !== null && !Array.isArray(digits)) fail('digits', 'an array of 10 digit classes', digits);
    if (digits !== null && digits.length !== 10)
      fail('digits', 'an array of 10 digit classes', `${digits.length} classes`);
    this.givenDigits = digits;
    this.grow = grow;
    this.contrast = contrast;
    this.brightness = brightness;
  }

  /** The digit classes the scenes draw from: options.digits, else (Node) the installed `mnist` package's. */
  digitClasses(): readonly DigitClass[] {
    return this.givenDigits ?? loadDigits();
  }

  /** The MNIST indices [begin, end) of `digit` that this split draws from (train: the first trainFraction). */
  sourceRange(digit: number): [number, number] {
    const count = this.digitClasses()[digit]!.count;
    const cut = Math.floor(this.trainFraction * count);
    return this.split === 'train' ? [0, cut] : [cut, count];
  }

  /** Build scene i (deterministic in seed, split and i). */
  get(i: number): DigitScene {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new UsageError(
        `DigitScenes.get: index must be an integer in [0, ${this.length - 1}], received ${describe(i)}`,
      );
    }
    const n = this.size;
    // distinct streams for every (seed, split, i): i < 2·10^6 < 4_194_319 / 2, seed·4_194_319 < 2^53
    const rng = new RandomGenerator(this.seed * 4_194_319 + 2 * i + (this.split === 'val' ? 1 : 0));
    const image = background(rng, n);
    const label = new Uint8Array(n * n);
    const digits: DigitPlacement[] = [];
    const count = 1 + rng.int(this.maxDigits);
    for (let k = 0; k < count; k++) {
      const digit = rng.int(10);
      const [lo, hi] = this.sourceRange(digit);
      const source = lo + rng.int(hi - lo);
      const scale = this.minScale + (this.maxScale - this.minScale) * rng.float();
      const side = Math.max(4, Math.min(n, Math.round((scale * n) / 2)));
      const x = rng.int(n - side + 1);
      const y = rng.int(n - side + 1);
      const ink = 0.75 + 0.25 * rng.float();
      const p: DigitPlacement = { digit, source, x, y, side };
      digits.push(p);
      drawDigit(image, label, n, p, this.digitClasses()[digit]!, ink, this.grow);
    }
    const sigma = 0.03 + 0.05 * rng.float();
    for (let q = 0; q < image.length; q++) image[q] = Math.min(1, Math.max(0, image[q]! + sigma * rng.normal()));
    // drawn last, so that contrast = brightness = 0 leaves every other draw (and so the scene) unchanged
    const gain = 1 + this.contrast * (2 * rng.float() - 1);
    const offset = this.brightness * (2 * rng.float() - 1);
    if (this.contrast > 0 || this.brightness > 0) {
      for (let q = 0; q < image.length; q++) image[q] = Math.min(1, Math.max(0, offset + gain * image[q]!));
    }
    return { image, label, digits, gain, offset };
  }

  /** Scenes `indices` stacked for a model: images N×1×H×W normalized by DIGIT_SCENE_MEAN/STD, labels N×H×W. */
  batch(indices: readonly number[]): { images: Float32Array; labels: Int32Array } {
    const hw = this.size * this.size;
    const images = new Float32Array(indices.length * hw);
    const labels = new Int32Array(indices.length * hw);
    indices.forEach((idx, k) => {
      const s = this.get(idx);
      for (let q = 0; q < hw; q++) images[k * hw + q] = (s.image[q]! - DIGIT_SCENE_MEAN) / DIGIT_SCENE_STD;
      labels.set(s.label, k * hw);
    });
    return { images, labels };
  }
}

/** A smooth texture: a random 5×5 grid of grey levels in [0, amp], bilinearly interpolated over the canvas. */
function background(rng: RandomGenerator, n: number): Float32Array {
  const g = 5;
  const amp = 0.15 + 0.3 * rng.float();
  const grid = Float64Array.from({ length: g * g }, () => amp * rng.float());
  const img = new Float32Array(n * n);
  for (let y = 0; y < n; y++) {
    const fy = ((y + 0.5) / n) * (g - 1);
    const y0 = Math.min(g - 2, Math.floor(fy));
    const wy = fy - y0;
    for (let x = 0; x < n; x++) {
      const fx = ((x + 0.5) / n) * (g - 1);
      const x0 = Math.min(g - 2, Math.floor(fx));
      const wx = fx - x0;
      const top = grid[y0 * g + x0]! * (1 - wx) + grid[y0 * g + x0 + 1]! * wx;
      const bot = grid[(y0 + 1) * g + x0]! * (1 - wx) + grid[(y0 + 1) * g + x0 + 1]! * wx;
      img[y * n + x] = top * (1 - wy) + bot * wy;
    }
  }
  return img;
}

/**
 * Resample the 28×28 digit to side×side (bilinear, align_corners=false, zero outside), alpha-composite it with
 * `ink` over the image, and write its labels: the ink mask (alpha ≥ 0.5) grown by a disc of radius `grow` → digit + 1,
 * the one-pixel ring around that region (4-neighbourhood) → IGNORE_INDEX, elsewhere unchanged.
 */
function drawDigit(
  image: Float32Array,
  label: Uint8Array,
  n: number,
  p: DigitPlacement,
  digitClass: DigitClass,
  ink: number,
  grow: number,
): void {
  const src = digitClass.pixels.subarray(p.source * DIGIT_SIDE * DIGIT_SIDE, (p.source + 1) * DIGIT_SIDE * DIGIT_SIDE);
  const s = p.side;
  const at = (r: number, c: number): number =>
    r < 0 || c < 0 || r >= DIGIT_SIDE || c >= DIGIT_SIDE ? 0 : src[r * DIGIT_SIDE + c]!;
  // masks on a grid padded by grow + 1 pixels on each side, so the region and its rim fit inside it
  const pad = grow + 1;
  const w = s + 2 * pad;
  const ink05 = new Uint8Array(w * w);
  for (let v = 0; v < s; v++) {
    const sy = ((v + 0.5) * DIGIT_SIDE) / s - 0.5;
    const r0 = Math.floor(sy);
    const fy = sy - r0;
    for (let u = 0; u < s; u++) {
      const sx = ((u + 0.5) * DIGIT_SIDE) / s - 0.5;
      const c0 = Math.floor(sx);
      const fx = sx - c0;
      const a =
        (at(r0, c0) * (1 - fx) + at(r0, c0 + 1) * fx) * (1 - fy) +
        (at(r0 + 1, c0) * (1 - fx) + at(r0 + 1, c0 + 1) * fx) * fy;
      const q = (p.y + v) * n + p.x + u;
      image[q] = image[q]! * (1 - a) + ink * a;
      if (a >= 0.5) ink05[(v + pad) * w + u + pad] = 1;
    }
  }
  const region = grow === 0 ? ink05 : new Uint8Array(w * w);
  if (grow > 0) {
    for (let r = 0; r < w; r++) {
      for (let c = 0; c < w; c++) {
        if (ink05[r * w + c] === 0) continue;
        for (let dr = -grow; dr <= grow; dr++) {
          for (let dc = -grow; dc <= grow; dc++)
            if (dr * dr + dc * dc <= grow * grow) region[(r + dr) * w + c + dc] = 1;
        }
      }
    }
  }
  const m = (r: number, c: number): number => (r < 0 || c < 0 || r >= w || c >= w ? 0 : region[r * w + c]!);
  for (let r = 0; r < w; r++) {
    const yy = p.y + r - pad;
    if (yy < 0 || yy >= n) continue;
    for (let c = 0; c < w; c++) {
      const xx = p.x + c - pad;
      if (xx < 0 || xx >= n) continue;
      if (m(r, c) === 1) label[yy * n + xx] = p.digit + 1;
      else if (m(r - 1, c) + m(r + 1, c) + m(r, c - 1) + m(r, c + 1) > 0) label[yy * n + xx] = IGNORE_INDEX;
    }
  }
}
