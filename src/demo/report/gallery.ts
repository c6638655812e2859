// The gallery's pictures: validation inputs, ground truth and predictions as PNG (pngjs), with one colour per class.
import { PNG } from 'pngjs';
import { ValueError, describe } from '../../errors.js';
import type { DemoNorm, GalleryItem } from '../types.js';
import { NORMS } from './summary.js';

/** Label value of pixels the loss and metrics skip (the rim around each digit). */
export const IGNORE_INDEX = 255;

/** Colour of each class: 0 background (near black), 1–10 digits 0–9 (Tableau 10, distinct in print). */
export const PALETTE: readonly (readonly [number, number, number])[] = [
  [24, 24, 24],
  [78, 121, 167],
  [242, 142, 43],
  [225, 87, 89],
  [118, 183, 178],
  [89, 161, 79],
  [237, 201, 72],
  [176, 122, 161],
  [255, 157, 167],
  [156, 117, 95],
  [186, 176, 172],
];

/** Colour of ignored pixels: pale cream, as Pascal VOC draws its 255 boundary. */
export const IGNORE_COLOR: readonly [number, number, number] = [236, 232, 200];

/** Name of each class for the legend. */
export const CLASS_NAMES: readonly string[] = ['background', ...Array.from({ length: 10 }, (_, d) => `digit ${d}`)];

/** `#rrggbb` of an RGB triple. */
export function hex(c: readonly [number, number, number]): string {
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** A configuration key of GalleryItem.predictions, parsed: `${norm}/b${batchPerWorker}`. */
export interface PredictionKey {
  key: string;
  norm: DemoNorm;
  batchPerWorker: number;
}

/** Parse a predictions key; throws ValueError naming the key when it does not have the documented form. */
export function parseKey(key: string): PredictionKey {
  const m = /^([a-z]+)\/b([1-9][0-9]{0,5})$/.exec(key);
  if (!m || !(NORMS as readonly string[]).includes(m[1])) {
    throw new ValueError(
      `writeReport: gallery prediction keys must look like "<norm>/b<images per worker>" with ` +
        `norm one of ${NORMS.join(', ')}, received ${describe(key)}`,
    );
  }
  return { key, norm: m[1] as DemoNorm, batchPerWorker: Number(m[2]) };
}

/** Check a gallery item's array lengths and label values before anything is written. */
export function validateItem(item: GalleryItem, at: number): void {
  const where = `writeReport: gallery[${at}]`;
  if (!Number.isInteger(item.index) || item.index < 0) {
    throw new ValueError(`${where}.index must be an integer ≥ 0, received ${describe(item.index)}`);
  }
  if (!Number.isInteger(item.size) || item.size < 1 || item.size > 4096) {
    throw new ValueError(`${where}.size must be an integer in [1, 4096], received ${describe(item.size)}`);
  }
  const n = item.size * item.size;
  const arrays: Array<[string, ArrayLike<number>]> = [
    ['image', item.image],
    ['label', item.label],
  ];
  for (const [k, v] of Object.entries(item.predictions)) arrays.push([`predictions[${JSON.stringify(k)}]`, v]);
  for (const [name, a] of arrays) {
    if (!a || a.length !== n) {
      throw new ValueError(`${where}.${name} must hold size² = ${n} values, received ${describe(a)}`);
    }
  }
  for (let i = 0; i < n; i++) {
    const l = item.label[i];
    if (l > 10 && l !== IGNORE_INDEX) {
      throw new ValueError(`${where}.label[${i}] must be 0–10 or ${IGNORE_INDEX}, received ${l}`);
    }
  }
  for (const [k, v] of Object.entries(item.predictions)) {
    parseKey(k);
    for (let i = 0; i < n; i++) {
      if (v[i] > 10) {
        throw new ValueError(`${where}.predictions[${JSON.stringify(k)}][${i}] must be 0–10, received ${v[i]}`);
      }
    }
  }
}

/** Encode an RGBA image of size×size pixels as PNG bytes. */
function encode(size: number, fill: (i: number, rgba: Uint8Array, at: number) => void): Buffer {
  const png = new PNG({ width: size, height: size, colorType: 6 });
  const data = png.data as unknown as Uint8Array;
  for (let i = 0; i < size * size; i++) fill(i, data, 4 * i);
  return PNG.sync.write(png, { colorType: 6 });
}

/** PNG of a grayscale input in [0, 1] (clamped; NaN drawn black). */
export function inputPng(item: GalleryItem): Buffer {
  return encode(item.size, (i, d, at) => {
    const x = item.image[i];
    const v = x > 0 ? (x < 1 ? Math.round(255 * x) : 255) : 0;
    d[at] = d[at + 1] = d[at + 2] = v;
    d[at + 3] = 255;
  });
}

/** PNG of a label map (ground truth or prediction) in the class palette; 255 in the ignore colour. */
export function labelPng(size: number, labels: Uint8Array): Buffer {
  return encode(size, (i, d, at) => {
    const l = labels[i];
    const c = l === IGNORE_INDEX ? IGNORE_COLOR : PALETTE[l];
    d[at] = c[0];
    d[at + 1] = c[1];
    d[at + 2] = c[2];
    d[at + 3] = 255;
  });
}

/** Fraction of non-ignored pixels where the prediction equals the label; null if every pixel is ignored. */
export function pixelAccuracy(label: Uint8Array, pred: Uint8Array): number | null {
  let hit = 0;
  let counted = 0;
  for (let i = 0; i < label.length; i++) {
    if (label[i] === IGNORE_INDEX) continue;
    counted++;
    if (pred[i] === label[i]) hit++;
  }
  return counted === 0 ? null : hit / counted;
}

/** One picture of the gallery: its file under the report directory and what it shows. */
export interface Picture {
  /** Path relative to the report directory, with '/' separators. */
  file: string;
  bytes: Buffer;
  size: number;
}

/** The pictures of one scene. */
export interface Scene {
  index: number;
  size: number;
  input: Picture;
  truth: Picture;
  /** By prediction key; `accuracy` is this scene's pixel accuracy for that configuration. */
  predictions: Map<string, { key: PredictionKey; picture: Picture; accuracy: number | null }>;
}

/** Encode every picture of the gallery; file names depend only on scene index and configuration. */
export function renderGallery(items: readonly GalleryItem[]): Scene[] {
  items.forEach(validateItem);
  const seen = new Set<number>();
  return items.map((item, at) => {
    if (seen.has(item.index)) {
      throw new ValueError(
        `writeReport: gallery[${at}].index ${item.index} appears twice; scene indices must be unique`,
      );
    }
    seen.add(item.index);
    const base = `gallery/scene-${item.index}`;
    const predictions: Scene['predictions'] = new Map();
    for (const [k, v] of Object.entries(item.predictions)) {
      const key = parseKey(k);
      predictions.set(k, {
        key,
        picture: {
          file: `${base}-${key.norm}-b${key.batchPerWorker}.png`,
          bytes: labelPng(item.size, v),
          size: item.size,
        },
        accuracy: pixelAccuracy(item.label, v),
      });
    }
    return {
      index: item.index,
      size: item.size,
      input: { file: `${base}-input.png`, bytes: inputPng(item), size: item.size },
      truth: { file: `${base}-truth.png`, bytes: labelPng(item.size, item.label), size: item.size },
      predictions,
    };
  });
}
