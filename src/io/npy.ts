// NumPy .npy read/write (float32/float64, little-endian, C order) so arrays move to and from Python.
import { readFile, writeFile } from 'node:fs/promises';
import { IOError, ShapeError, UsageError, describe } from '../errors.js';

/** The element types .npy files are read and written in. */
export type NpyDtype = 'float32' | 'float64';

/** A .npy array: data in C order, its shape and element type. */
export interface NpyArray {
  dtype: NpyDtype;
  /** C-order (row-major) shape; [] for a 0-d array */
  shape: number[];
  data: Float32Array | Float64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const DESCR: Record<string, NpyDtype> = { '<f4': 'float32', '<f8': 'float64' };

/** Parse the bytes of a .npy file (format versions 1.0, 2.0 and 3.0). */
export function parseNpy(bytes: Uint8Array, source = '.npy data'): NpyArray {
  if (!(bytes instanceof Uint8Array))
    throw new UsageError(`npy: bytes must be a Uint8Array, received ${describe(bytes)}`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    const head = Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new IOError(
      `npy: ${source} is not a .npy file (expected magic 93 4e 55 4d 50 59, found ${head || 'nothing'})`,
    );
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new IOError(`npy: ${source} is truncated inside its preamble (${bytes.length} bytes)`);
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new IOError(`npy: ${source} has format version ${major}.${bytes[7]}, expected 1.0, 2.0 or 3.0`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length)
    throw new IOError(`npy: ${source} is truncated inside its header (needs ${dataStart} bytes, has ${bytes.length})`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new IOError(
      `npy: ${source} has a malformed header (expected 'descr', 'fortran_order' and 'shape'), found ` +
        `${JSON.stringify(header.trim())}`,
    );
  }
  const dtype = DESCR[descr];
  if (dtype === undefined)
    throw new IOError(`npy: ${source} has dtype '${descr}', expected '<f4' (float32) or '<f8' (float64)`);
  if (fortran === 'True')
    throw new IOError(
      `npy: ${source} is in Fortran order (fortran_order: True), expected C order; save it with np.ascontiguousarray`,
    );
  const dims = shapeText
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '');
  const shape = dims.map((d) => Number(d));
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw new IOError(`npy: ${source} has a malformed shape (${shapeText})`);
  const size = shape.reduce((a, b) => a * b, 1);
  const itemBytes = dtype === 'float32' ? 4 : 8;
  const have = bytes.length - dataStart;
  if (have !== size * itemBytes) {
    throw new IOError(
      `npy: ${source} should hold ${size * itemBytes} data bytes for shape (${shape.join(', ')}) ${dtype}, found ` +
        `${have}`,
    );
  }
  // slice: a fresh, aligned buffer (the data offset in a file need not be a multiple of 8)
  const buf = bytes.buffer.slice(bytes.byteOffset + dataStart, bytes.byteOffset + bytes.length) as ArrayBuffer;
  const data = dtype === 'float32' ? new Float32Array(buf) : new Float64Array(buf);
  return { dtype, shape, data };
}

/** The bytes of a version-1.0 .npy file holding `data` with `shape` (C order), exactly as numpy.save writes them. */
export function formatNpy(data: Float32Array | Float64Array, shape: readonly number[]): Uint8Array {
  if (!(data instanceof Float32Array) && !(data instanceof Float64Array)) {
    throw new UsageError(`npy: data must be a Float32Array or Float64Array, received ${describe(data)}`);
  }
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new ShapeError(`npy: shape must be an array of non-negative integers, received ${describe(shape)}`);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length)
    throw new ShapeError(`npy: shape [${shape.join(', ')}] needs ${size} elements, data has ${data.length}`);
  const descr = data instanceof Float32Array ? '<f4' : '<f8';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // numpy pads with spaces and ends with '\n' so the data starts on a 64-byte boundary
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

/** Read a .npy file (float32 or float64, C order); IOError when unreadable, ValueError when malformed. */
export async function readNpy(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new IOError(`npy: cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseNpy(bytes, path);
}

/** Write `data` with `shape` as a .npy file (C order); IOError when the file cannot be written. */
export async function writeNpy(
  path: string,
  data: Float32Array | Float64Array,
  shape: readonly number[],
): Promise<void> {
  const bytes = formatNpy(data, shape);
  try {
    await writeFile(path, bytes);
  } catch (e) {
    throw new IOError(`npy: cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
}
