// The digits behind DigitScenes as plain data (portable): 10 classes of 28×28 float images; their packed binary form.
import { IOError } from '../errors.js';

/** Side of an MNIST digit image in pixels. */
export const DIGIT_SIDE = 28;
const PIXELS = DIGIT_SIDE * DIGIT_SIDE;
/** Bytes of the packed header: 10 uint32 counts. */
const HEADER = 40;

/** The digits of one class: `count` images of 28×28 floats in [0, 1], row-major, back to back. */
export interface DigitClass {
  readonly count: number;
  readonly pixels: Float32Array;
}

/**
 * The packed form (what `syncbn web` serves as /digits.bin and Node caches in the temp directory): 10 little-endian
 * uint32 counts, then each class's count·784 float32 pixels, class 0 first. `into` lets the caller choose the
 * buffer (a SharedArrayBuffer, to hand one copy to every worker).
 */
export function packDigits(classes: readonly DigitClass[], into?: (bytes: number) => ArrayBufferLike): Uint8Array {
  const total = classes.reduce((a, c) => a + c.count, 0);
  const bytes = HEADER + total * PIXELS * 4;
  const buf = into?.(bytes) ?? new ArrayBuffer(bytes);
  new Uint32Array(buf, 0, 10).set(classes.map((c) => c.count));
  let at = HEADER;
  for (const c of classes) {
    new Float32Array(buf, at, c.count * PIXELS).set(c.pixels.subarray(0, c.count * PIXELS));
    at += c.count * PIXELS * 4;
  }
  return new Uint8Array(buf);
}

/** The classes of a packed buffer, as views of it (no copy); IOError when its length does not match its counts. */
export function unpackDigits(buf: ArrayBufferLike, where = 'packed digits'): DigitClass[] {
  if (buf.byteLength < HEADER) throw new IOError(`${where}: need at least ${HEADER} bytes, received ${buf.byteLength}`);
  const counts = [...new Uint32Array(buf, 0, 10)];
  const total = counts.reduce((a, c) => a + c, 0);
  if (buf.byteLength !== HEADER + total * PIXELS * 4) {
    throw new IOError(
      `${where}: counts ${JSON.stringify(counts)} need ${HEADER + total * PIXELS * 4} bytes, ` +
        `received ${buf.byteLength}`,
    );
  }
  let at = HEADER;
  return counts.map((count) => {
    const pixels = new Float32Array(buf, at, count * PIXELS);
    at += count * PIXELS * 4;
    return { count, pixels };
  });
}
