// Shared control words: doorbells to sleep on, the world-wide abort record, peer liveness, collective progress.
import { CollectiveMismatchError, CommError, CommTimeoutError, PeerDiedError, AuthError } from '../errors.js';

const LINE = 16; // int32 per cache line
const ABORT_FLAG = 0; // 0 none, 2 being written, 1 complete
const ABORT_LEN = 1;
const ABORT_BYTES = 4096;
/** Per-slot progress table: (groupId, last sequence number called) pairs, open addressing. */
export const GROUP_SLOTS = 128;

export const PEER_ALIVE = 0;
export const PEER_LEFT = 1; // closed the group cleanly
export const PEER_DEAD = 2;

/**
 * Layout: one header line, the abort message, then per slot (a rank, or a helper thread) one line
 * [doorbell, sleeping, peerState, lastSeen], then per slot a progress table.
 * A sleeper sets `sleeping`, re-reads the doorbell and waits on it; a waker bumps the doorbell and
 * notifies only if `sleeping` is set (sequentially consistent atomics make this race-free).
 */
export class Control {
  readonly i32: Int32Array;
  private readonly abortBytes: Uint8Array;
  private readonly slotBase: number;
  private readonly progBase: number;

  constructor(
    readonly sab: SharedArrayBuffer,
    readonly byteOffset: number,
    readonly slots: number,
  ) {
    this.i32 = new Int32Array(sab, byteOffset, Control.bytes(slots) / 4);
    this.abortBytes = new Uint8Array(sab, byteOffset + LINE * 4, ABORT_BYTES);
    this.slotBase = LINE + ABORT_BYTES / 4;
    this.progBase = this.slotBase + slots * LINE;
  }

  static bytes(slots: number): number {
    return (LINE + ABORT_BYTES / 4 + slots * LINE + slots * GROUP_SLOTS * 2) * 4;
  }

  doorbellIndex(slot: number): number {
    return this.slotBase + slot * LINE;
  }
  sleepIndex(slot: number): number {
    return this.slotBase + slot * LINE + 1;
  }

  /** Wake whoever sleeps on `slot`'s doorbell. */
  ring(slot: number): void {
    const d = this.slotBase + slot * LINE;
    Atomics.add(this.i32, d, 1);
    if (Atomics.load(this.i32, d + 1) !== 0) Atomics.notify(this.i32, d);
  }

  ringAll(): void {
    for (let s = 0; s < this.slots; s++) this.ring(s);
  }

  peerState(slot: number): number {
    return Atomics.load(this.i32, this.slotBase + slot * LINE + 2);
  }
  setPeerState(slot: number, state: number): void {
    // Dead wins over left: never downgrade.
    const i = this.slotBase + slot * LINE + 2;
    for (;;) {
      const cur = Atomics.load(this.i32, i);
      if (cur >= state) return;
      if (Atomics.compareExchange(this.i32, i, cur, state) === cur) return;
    }
  }

  // ---- progress: the last sequence number each slot has *called* per group (for "never arrived")
  setProgress(slot: number, groupId: number, seq: number): void {
    const base = this.progBase + slot * GROUP_SLOTS * 2;
    const key = groupId | 0 || 1; // 0 marks an empty entry; the world group uses id 1
    for (let k = 0; k < GROUP_SLOTS; k++) {
      const e = base + (((key >>> 0) + k) % GROUP_SLOTS) * 2;
      const cur = Atomics.load(this.i32, e);
      if (cur === key || (cur === 0 && Atomics.compareExchange(this.i32, e, 0, key) === 0)) {
        Atomics.store(this.i32, e + 1, seq);
        return;
      }
    }
  }
  /** Last sequence number `slot` called in `groupId`, or 0 if none. */
  getProgress(slot: number, groupId: number): number {
    const base = this.progBase + slot * GROUP_SLOTS * 2;
    const key = groupId | 0 || 1;
    for (let k = 0; k < GROUP_SLOTS; k++) {
      const e = base + (((key >>> 0) + k) % GROUP_SLOTS) * 2;
      const cur = Atomics.load(this.i32, e);
      if (cur === key) return Atomics.load(this.i32, e + 1);
      if (cur === 0) return 0;
    }
    return 0;
  }

  // ---- the abort record: first writer wins; every later collective on every rank throws it
  aborted(): boolean {
    return Atomics.load(this.i32, ABORT_FLAG) !== 0;
  }

  /** Store `err` as the abort reason unless one is already stored; returns the stored one. */
  abort(err: CommError): CommError {
    if (Atomics.compareExchange(this.i32, ABORT_FLAG, 0, 2) === 0) {
      const bytes = new TextEncoder().encode(JSON.stringify(serializeCommError(err)));
      const n = Math.min(bytes.length, ABORT_BYTES);
      this.abortBytes.set(bytes.subarray(0, n));
      Atomics.store(this.i32, ABORT_LEN, n);
      Atomics.store(this.i32, ABORT_FLAG, 1);
      this.ringAll();
      return err;
    }
    return this.abortError()!;
  }

  abortError(): CommError | null {
    let f = Atomics.load(this.i32, ABORT_FLAG);
    if (f === 0) return null;
    while (f === 2) f = Atomics.load(this.i32, ABORT_FLAG); // a writer is mid-copy (a few µs)
    const n = Atomics.load(this.i32, ABORT_LEN);
    const text = new TextDecoder().decode(this.abortBytes.slice(0, n));
    try {
      return deserializeCommError(JSON.parse(text) as SerializedCommError);
    } catch {
      return new CommError(`collectives aborted (abort record unreadable: ${text.slice(0, 200)})`);
    }
  }
}

export interface SerializedCommError {
  name: string;
  message: string;
  deadRank?: number;
  missingRanks?: number[];
}

export function serializeCommError(e: CommError): SerializedCommError {
  const out: SerializedCommError = { name: e.name, message: e.message };
  if (e instanceof PeerDiedError) out.deadRank = e.deadRank;
  if (e instanceof CommTimeoutError) out.missingRanks = [...e.missingRanks];
  return out;
}

/** Rebuild the same error class and message on another rank. */
export function deserializeCommError(s: SerializedCommError): CommError {
  switch (s.name) {
    case 'PeerDiedError':
      return new PeerDiedError(s.message, s.deadRank ?? -1);
    case 'CommTimeoutError':
      return new CommTimeoutError(s.message, s.missingRanks ?? []);
    case 'CollectiveMismatchError':
      return new CollectiveMismatchError(s.message);
    case 'AuthError':
      return new AuthError(s.message);
    default:
      return new CommError(s.message);
  }
}
