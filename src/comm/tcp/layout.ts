// Memory shared by a TCP rank's calling thread and its comm worker: control words, a progress-query area, an outbox and
// inbox ring per peer.
import { Control } from '../control.js';
import { Ring } from '../ring.js';

/** Line word (in a peer's control slot) the worker sets while that peer's inbox is full. */
export const INBOX_BLOCKED = 3;
/**
 * Line word (in a peer's control slot): 1 + the file descriptor of the direct socket to that peer,
 * which the rank's own thread reads and writes (0: the comm worker relays that peer's rings).
 */
export const DIRECT_FD = 4;
/** Query area: [state (0 idle, 1 asked, 2 answered), groupId, results per world rank (−1: no answer)…]. */
export const Q_STATE = 0;
export const Q_GROUP = 1;
/** Set by the comm worker once it has handed the abort reason to every peer's socket. */
export const Q_ABORT_SENT = 2;
/**
 * Collectives the rank has submitted and not yet finished: while non-zero the comm worker polls instead of sleeping.
 */
export const Q_BUSY = 3;
export const Q_RESULTS = 4;

export interface TcpLayout {
  ctl: Control;
  query: Int32Array;
  outs: Ring[];
  ins: Ring[];
  /** The comm worker's doorbell slot. */
  workerSlot: number;
}

export function tcpBytes(size: number, ringBytes: number): number {
  return ringsAt(size) + 2 * (size - 1) * Ring.bytes(ringBytes);
}

/** Rings start 64-byte aligned (typed views of float64 pieces need 8). */
function ringsAt(size: number): number {
  return Math.ceil((Control.bytes(size + 1) + (Q_RESULTS + size) * 4) / 64) * 64;
}

export function tcpLayout(sab: SharedArrayBuffer, rank: number, size: number, ringBytes: number): TcpLayout {
  const ctl = new Control(sab, 0, size + 1);
  let off = Control.bytes(size + 1);
  const query = new Int32Array(sab, off, Q_RESULTS + size);
  off = ringsAt(size);
  const outs: Ring[] = [];
  const ins: Ring[] = [];
  for (let p = 0; p < size; p++) {
    if (p === rank) continue;
    outs[p] = new Ring(sab, off, ringBytes);
    off += Ring.bytes(ringBytes);
    ins[p] = new Ring(sab, off, ringBytes);
    off += Ring.bytes(ringBytes);
  }
  return { ctl, query, outs, ins, workerSlot: size };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
