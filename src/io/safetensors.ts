// State dicts to and from safetensors files (8-byte LE header length, JSON header, raw LE data), written atomically.
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { IOError, UsageError, describe } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmtShape, numel } from '../tensor/shape.js';
import { writeFileAtomic } from './atomic.js';

/** Element readers for the dtypes a PyTorch checkpoint holds; everything loads as float32. */
const DTYPES: Record<string, { bytes: number; read: (v: DataView, off: number) => number }> = {
  F32: { bytes: 4, read: (v, o) => v.getFloat32(o, true) },
  F64: { bytes: 8, read: (v, o) => v.getFloat64(o, true) },
  F16: { bytes: 2, read: (v, o) => f16(v.getUint16(o, true)) },
  BF16: { bytes: 2, read: (v, o) => bf16(v.getUint16(o, true)) },
  I64: { bytes: 8, read: (v, o) => Number(v.getBigInt64(o, true)) },
  I32: { bytes: 4, read: (v, o) => v.getInt32(o, true) },
  I16: { bytes: 2, read: (v, o) => v.getInt16(o, true) },
  I8: { bytes: 1, read: (v, o) => v.getInt8(o) },
  U8: { bytes: 1, read: (v, o) => v.getUint8(o) },
  BOOL: { bytes: 1, read: (v, o) => v.getUint8(o) },
};

function f16(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const s = h & 0x8000 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
const bf = new DataView(new ArrayBuffer(4));
function bf16(h: number): number {
  bf.setUint32(0, h << 16);
  return bf.getFloat32(0);
}

/** Serialize tensors (float32, "F32") with optional string metadata into safetensors bytes. */
export function encodeSafetensors(
  tensors: Readonly<Record<string, Tensor>>,
  metadata?: Readonly<Record<string, string>>,
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata))
      if (typeof v !== 'string')
        throw new UsageError(
          `saveSafetensors: metadata values must be strings, received ${describe(v)} for ${JSON.stringify(k)}`,
        );
    header.__metadata__ = metadata;
  }
  let off = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (!(t instanceof Tensor))
      throw new UsageError(`saveSafetensors: ${JSON.stringify(name)} must be a Tensor, received ${describe(t)}`);
    if (name === '__metadata__')
      throw new UsageError('saveSafetensors: "__metadata__" is reserved and cannot name a tensor');
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [off, off + t.size * 4] };
    off += t.size * 4;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8; // safetensors pads the header with spaces to 8-byte alignment
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = Buffer.allocUnsafe(8 + json.length + off);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let at = 8 + json.length;
  for (const [, t] of entries) {
    const d = t.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  if (endianness() === 'BE') out.subarray(8 + json.length).swap32();
  return out;
}

/** Parse safetensors bytes: every tensor as a float32 Tensor (other numeric dtypes converted). */
export function decodeSafetensors(
  buf: Uint8Array,
  source = 'buffer',
): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const fail = (why: string): never => {
    throw new IOError(`loadSafetensors: ${source} is not a valid safetensors file: ${why}`);
  };
  if (buf.length < 8) fail(`it has ${buf.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > buf.length - 8) fail(`the header length ${n} exceeds the file size ${buf.length}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    return fail(`the header is not JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const base = 8 + n;
  const dataLen = buf.length - base;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors: Record<string, Tensor> = {};
  const ranges: [number, number, string][] = [];
  try {
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const {
        dtype,
        shape,
        data_offsets: offs,
      } = (info ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const dt = typeof dtype === 'string' ? DTYPES[dtype] : undefined;
      if (dt === undefined) fail(`tensor ${JSON.stringify(name)} has unsupported dtype ${describe(dtype)}`);
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
        fail(`tensor ${JSON.stringify(name)} has a bad shape ${describe(shape)}`);
      if (
        !Array.isArray(offs) ||
        offs.length !== 2 ||
        !offs.every((o) => Number.isInteger(o) && o >= 0) ||
        offs[0] > offs[1] ||
        offs[1] > dataLen
      ) {
        fail(
          `tensor ${JSON.stringify(name)} has data_offsets ${JSON.stringify(offs)} outside the ${dataLen} data bytes`,
        );
      }
      const [a, b] = offs as [number, number];
      const count = numel(shape as number[]);
      if (b - a !== count * dt!.bytes)
        fail(
          `tensor ${JSON.stringify(name)} of shape ${fmtShape(shape as number[])} and dtype ${String(dtype)} needs ` +
            `${count * dt!.bytes} bytes, its data_offsets span ${b - a}`,
        );
      ranges.push([a, b, name]);
      const t = Tensor.empty(shape as number[]);
      tensors[name] = t;
      const d = t.data;
      if (dtype === 'F32' && endianness() === 'LE')
        new Uint8Array(d.buffer, d.byteOffset, d.byteLength).set(buf.subarray(base + a, base + b));
      else for (let i = 0; i < count; i++) d[i] = dt!.read(view, base + a + i * dt!.bytes);
    }
    // The format forbids holes and overlaps: the ranges must tile the data section.
    ranges.sort((x, y) => x[0] - y[0]);
    let end = 0;
    for (const [a, b, name] of ranges) {
      if (a !== end) fail(`tensor ${JSON.stringify(name)} starts at byte ${a}, expected ${end} (holes or overlaps)`);
      end = b;
    }
    if (end !== dataLen) fail(`the tensors cover ${end} of ${dataLen} data bytes`);
  } catch (e) {
    for (const t of Object.values(tensors)) t.dispose();
    throw e;
  }
  return { tensors, metadata };
}

/**
 * Write `tensors` (e.g. module.stateDict()) to `path` atomically: a hidden temp file
 * `.<name>.tmp-<pid>-<hex>` in the same directory, fsync, rename over the target, fsync the directory —
 * a crash leaves the old file or the new one. Temp files of earlier writers of `path` that were killed
 * (dead pid, or untouched for STALE_TEMP_MS) are removed first.
 */
export function saveSafetensors(
  path: string,
  tensors: Readonly<Record<string, Tensor>>,
  metadata?: Readonly<Record<string, string>>,
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata), 'saveSafetensors');
}

/** Read a safetensors file: tensors (float32) by name, and the string metadata. */
export function loadSafetensors(path: string): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new IOError(`loadSafetensors: could not read ${path}: ${(e as Error).message}`, { cause: e });
  }
  return decodeSafetensors(buf, path);
}

/** Save a module's state dict (parameters + persistent buffers) as safetensors. */
export function saveModule(
  path: string,
  module: { stateDict(): Record<string, Tensor> },
  metadata?: Readonly<Record<string, string>>,
): void {
  saveSafetensors(path, module.stateDict(), { format: 'pt', ...metadata });
}

/** Load a safetensors state dict into a module (strict by default); the loaded copies are freed. */
export function loadModule(
  path: string,
  module: { loadStateDict(sd: Record<string, Tensor>, o?: { strict?: boolean }): unknown },
  opts: { strict?: boolean } = {},
): void {
  const { tensors } = loadSafetensors(path);
  try {
    module.loadStateDict(tensors, opts);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
