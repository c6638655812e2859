// Images for `syncbn predict`: read .npy or PNG as a [C, H, W] float array; write colour-coded class masks as PNG.
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { PNG } from 'pngjs';
import { IOError, ShapeError, UsageError } from '../errors.js';
import { parseNpy } from '../io/npy.js';

/** A [C, H, W] float32 image. */
export interface Image {
  readonly data: Float32Array;
  readonly shape: readonly [number, number, number];
}

/**
 * Read an image for a model that takes `channels` channels. `.npy`: float32/float64 of shape
 * [C, H, W], [1, C, H, W] or [H, W] (one channel), values as the model was trained on. PNG: 8-bit
 * values scaled to [0, 1]; 1 channel = the mean of R, G, B, 3 channels = RGB (alpha ignored).
 */
export function readImage(path: string, channels: number): Image {
  const ext = extname(path).toLowerCase();
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new IOError(`could not read image ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e });
  }
  if (ext === '.npy') {
    const a = parseNpy(bytes, path);
    const s = a.shape;
    let shape: [number, number, number];
    if (s.length === 2) shape = [1, s[0]!, s[1]!];
    else if (s.length === 3) shape = [s[0]!, s[1]!, s[2]!];
    else if (s.length === 4 && s[0] === 1) shape = [s[1]!, s[2]!, s[3]!];
    else
      throw new ShapeError(
        `${path}: expected an image of shape [C, H, W], [1, C, H, W] or [H, W], received [${s.join(', ')}]`,
      );
    if (shape[0] !== channels)
      throw new ShapeError(
        `${path}: the model takes ${channels} channel(s), the image has ${shape[0]} (shape [${s.join(', ')}])`,
      );
    return { data: Float32Array.from(a.data), shape };
  }
  if (ext === '.png') {
    let png: PNG;
    try {
      png = PNG.sync.read(bytes);
    } catch (e) {
      throw new IOError(`${path}: not a readable PNG (${(e as Error).message})`, { cause: e });
    }
    if (channels !== 1 && channels !== 3)
      throw new ShapeError(
        `${path}: a PNG gives 1 or 3 channels, but the model takes ${channels}; give a .npy instead`,
      );
    const hw = png.width * png.height;
    const data = new Float32Array(channels * hw);
    for (let p = 0; p < hw; p++) {
      const [r, g, b] = [png.data[4 * p]!, png.data[4 * p + 1]!, png.data[4 * p + 2]!];
      if (channels === 1) data[p] = (r + g + b) / (3 * 255);
      else {
        data[p] = r / 255;
        data[hw + p] = g / 255;
        data[2 * hw + p] = b / 255;
      }
    }
    return { data, shape: [channels, png.height, png.width] };
  }
  throw new UsageError(
    `image ${JSON.stringify(path)}: expected a .npy or .png file, received extension ${JSON.stringify(ext)}`,
  );
}

/** Colour of class k: the PASCAL VOC palette (bits of k spread over the high bits of R, G, B). */
export function classColour(k: number): [number, number, number] {
  let r = 0;
  let g = 0;
  let b = 0;
  for (let bit = 7, c = k; c > 0; bit--, c >>= 3) {
    r |= (c & 1) << bit;
    g |= ((c >> 1) & 1) << bit;
    b |= ((c >> 2) & 1) << bit;
  }
  return [r, g, b];
}

/** Per-pixel argmax of logits [K, H, W] → class ids [H, W] (first maximum wins, like torch.argmax). */
export function argmaxClasses(logits: Float32Array, k: number, hw: number): Int32Array {
  const out = new Int32Array(hw);
  for (let p = 0; p < hw; p++) {
    let best = 0;
    let bv = logits[p]!;
    for (let c = 1; c < k; c++) {
      const v = logits[c * hw + p]!;
      if (v > bv) {
        bv = v;
        best = c;
      }
    }
    out[p] = best;
  }
  return out;
}

/** Write class ids [H, W] as an RGB PNG in the VOC palette. */
export function writeMaskPng(path: string, classes: Int32Array, h: number, w: number): void {
  const png = new PNG({ width: w, height: h });
  for (let p = 0; p < h * w; p++) {
    const [r, g, b] = classColour(classes[p]!);
    png.data[4 * p] = r;
    png.data[4 * p + 1] = g;
    png.data[4 * p + 2] = b;
    png.data[4 * p + 3] = 255;
  }
  try {
    writeFileSync(path, PNG.sync.write(png));
  } catch (e) {
    throw new IOError(`could not write ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e });
  }
}
