// The message header every collective message carries: (group, sequence, kind, dtype, op, length, tag) for mismatch
// detection.
import type { CommArray, ReduceOp } from './types.js';

export const MAGIC = 0x53424e31; // "SBN1"
export const HEADER_BYTES = 32;
export const MAX_TAG_BYTES = 255;

export const KIND_NAMES = ['?', 'allReduce', 'allGather', 'broadcast', 'barrier', 'newGroup'] as const;
export type KindName = (typeof KIND_NAMES)[number];
export const KIND = { allReduce: 1, allGather: 2, broadcast: 3, barrier: 4, newGroup: 5 } as const;

export const DTYPE_NAMES = ['none', 'float32', 'float64'] as const;
export const OPS: readonly ReduceOp[] = ['sum', 'max', 'min'];

export function dtypeOf(a: CommArray): number {
  return a instanceof Float64Array ? 2 : 1;
}

export interface Header {
  groupId: number;
  seq: number;
  kind: number;
  dtype: number;
  op: number;
  /** The collective's length in elements (allGather: this sender's contribution). */
  len: number;
  /** Payload bytes in this message (unpadded). */
  bytes: number;
  /** Broadcast root, or a hash of the member list for newGroup. */
  extra: number;
  /** Sender's group rank. */
  src: number;
  tag: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function pad8(n: number): number {
  return (n + 7) & ~7;
}

/** Encode the tag once per collective (truncated to 255 UTF-8 bytes on the wire and in comparisons). */
export function encodeTag(tag: string | undefined): Uint8Array {
  if (!tag) return new Uint8Array(0);
  const b = enc.encode(tag);
  return b.length <= MAX_TAG_BYTES ? b : b.subarray(0, MAX_TAG_BYTES);
}

/** Bytes of a message's header with its tag: 32 + the tag padded to 8. */
export function headerBytes(tagLen: number): number {
  return HEADER_BYTES + pad8(tagLen);
}

/**
 * Write header + tag (padded to 8) into `out` at 0, with this message's payload size and sender:
 * the bytes a message starts with. `out` must hold headerBytes(tagBytes.length); the caller copies them
 * out at once, so one scratch per thread serves every message (no allocation per collective).
 */
export function encodeHeaderInto(
  out: Uint8Array,
  dv: DataView,
  h: Header,
  bytes: number,
  src: number,
  tagBytes: Uint8Array,
): number {
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, h.groupId >>> 0, true);
  dv.setUint32(8, h.seq >>> 0, true);
  out[12] = h.kind;
  out[13] = h.dtype;
  out[14] = h.op;
  out[15] = tagBytes.length;
  dv.setUint32(16, h.len >>> 0, true);
  dv.setUint32(20, bytes >>> 0, true);
  dv.setInt32(24, h.extra | 0, true);
  dv.setUint32(28, src >>> 0, true);
  out.set(tagBytes, HEADER_BYTES);
  const n = headerBytes(tagBytes.length);
  out.fill(0, HEADER_BYTES + tagBytes.length, n);
  return n;
}

/** Decode the fixed part; returns null when the magic is wrong (a corrupt stream). */
export function decodeFixed(b: Uint8Array, view?: DataView): (Header & { tagLen: number }) | null {
  const dv = view ?? new DataView(b.buffer, b.byteOffset, HEADER_BYTES);
  if (dv.getUint32(0, true) !== MAGIC) return null;
  return {
    groupId: dv.getUint32(4, true),
    seq: dv.getUint32(8, true),
    kind: b[12]!,
    dtype: b[13]!,
    op: b[14]!,
    tagLen: b[15]!,
    len: dv.getUint32(16, true),
    bytes: dv.getUint32(20, true),
    extra: dv.getInt32(24, true),
    src: dv.getUint32(28, true),
    tag: '',
  };
}

export function decodeTag(b: Uint8Array): string {
  return dec.decode(b);
}

/** The fields two ranks must agree on; returns the first that differs, or null. */
export function headerMismatch(mine: Header, theirs: Header): string | null {
  if (theirs.groupId !== mine.groupId) return 'group';
  if (theirs.seq !== mine.seq) return 'seq';
  if (theirs.kind !== mine.kind) return 'kind';
  if (theirs.dtype !== mine.dtype) return 'dtype';
  if (theirs.op !== mine.op) return 'op';
  if (theirs.kind !== KIND.allGather && theirs.len !== mine.len) return 'len';
  if (theirs.extra !== mine.extra) return 'extra';
  if (theirs.tag !== mine.tag) return 'tag';
  return null;
}

/** `allReduce(len=129, float32, tag="layer1.bn")`, with the fields that differ from `other` added. */
export function describeCall(h: Header, other: Header, groupName: (id: number) => string): string {
  const kind = KIND_NAMES[h.kind] ?? `kind${h.kind}`;
  const parts: string[] = [];
  if (h.kind !== KIND.barrier) parts.push(h.kind === KIND.newGroup ? `members=${h.len}` : `len=${h.len}`);
  if (h.kind !== KIND.barrier && h.kind !== KIND.newGroup) parts.push(DTYPE_NAMES[h.dtype] ?? `dtype${h.dtype}`);
  if (h.kind === KIND.allReduce && (h.op !== other.op || h.op !== 0)) parts.push(`op=${OPS[h.op] ?? h.op}`);
  if (h.kind === KIND.broadcast) parts.push(`root=${h.extra}`);
  if (h.kind === KIND.newGroup && h.extra !== other.extra) parts.push(`membersHash=${(h.extra >>> 0).toString(16)}`);
  if (h.tag !== '' || other.tag !== '') parts.push(`tag=${JSON.stringify(h.tag)}`);
  let prefix = kind;
  if (h.seq !== other.seq || h.groupId !== other.groupId) prefix += ` #${h.seq}`;
  if (h.groupId !== other.groupId) prefix += ` on group ${groupName(h.groupId)}`;
  return `${prefix}(${parts.join(', ')})`;
}
