// The Transport contract: per-peer byte channels and a doorbell; algorithms never see a socket, transports never reduce.
import { hardwareThreads } from '#platform';
import type { CommError } from '../errors.js';
import { envConfig } from './config.js';
import type { Control } from './control.js';
import type { Ring } from './ring.js';
import type { LinkKind } from './types.js';

export type { LinkKind };

/**
 * Point-to-point byte streams between world ranks, as shared-memory rings the calling thread reads
 * and writes directly (threads: the peer's thread is the other end; TCP: a comm worker thread
 * relays each ring to a socket). Waiting is on one doorbell per rank, so the same algorithm code
 * runs blocking (Atomics.wait) or on the event loop (Atomics.waitAsync).
 */
export interface Transport {
  readonly kind: 'threads' | 'tcp';
  readonly rank: number;
  readonly size: number;
  /** Control words holding this rank's doorbell and the abort record it reads. */
  readonly ctl: Control;
  /** The doorbell slot this rank's calling thread sleeps on. */
  readonly slot: number;
  /** Longest spin before sleeping, µs (latency vs. stealing a core from a peer); 0 = always sleep. */
  readonly spinUs: number;
  /** How bytes reach `peer` (see LinkKind). */
  link(peer: number): LinkKind;
  /**
   * Threads sharing their wasm heaps (spawnThreads): `peer`'s heap, readable from this thread, so
   * an algorithm can read a peer's heap-resident buffer where it is (null: not shared).
   */
  peerHeap?(peer: number): SharedArrayBuffer | null;
  out(peer: number): Ring;
  in(peer: number): Ring;
  /** Bytes were published on out(peer). */
  notifySent(peer: number): void;
  /** Bytes were consumed from in(peer) (its producer may wait for space). */
  notifyConsumed(peer: number): void;
  /** PEER_ALIVE, PEER_LEFT or PEER_DEAD. */
  peerState(peer: number): number;
  /** Store the abort reason (first wins) and tell every rank; returns the stored one. */
  abort(err: CommError): CommError;
  abortError(): CommError | null;
  /** Record that this rank called collective `seq` of group `groupId`. */
  setProgress(groupId: number, seq: number): void;
  /** Last sequence number each world rank in `peers` called in `groupId` (null: unreachable). */
  queryProgress(groupId: number, peers: readonly number[]): Generator<void, (number | null)[], void>;
  /**
   * Transports whose bytes the calling thread moves itself (TCP with direct sockets): move what can
   * move without blocking; true if anything did. Nobody rings the doorbell when such bytes arrive,
   * so the engine calls this while it spins and sleeps only in short, growing naps between calls.
   */
  pump?(): boolean;
  /**
   * Zero-copy send (pumped transports): write `src[off, end)` to `peer` from where it is, not via
   * the outbox. Starts when the outbox is empty and no other such write to `peer` is under way;
   * pump() carries it on. Returns the offset in `src` reached so far by the write of `src` (`off`
   * if it could not start yet; −1 if `peer` has no such path: use the outbox). `src` must not change
   * until the returned offset reaches `end`.
   */
  sendNow?(peer: number, src: Uint8Array, off: number, end: number): number;
  /**
   * Zero-copy receive (pumped transports), the mirror of sendNow: the next stream bytes from `peer`
   * go to `dst[off, end)` (`end − off` a multiple of 8) instead of the inbox. Starts when the inbox
   * holds no published bytes (a partial 8-byte unit already read is moved to `dst`); pump() carries
   * it on. Returns the offset reached in `dst` (`off` if it could not start; −1: no such path).
   */
  recvNow?(peer: number, dst: Uint8Array, off: number, end: number): number;
  /** True when every byte written has left this rank (TCP: handed to the kernel). */
  flushed(): boolean;
  /** Leave: peers that later wait on this rank fail with PeerDiedError. */
  close(): Promise<void>;
}

/**
 * The spin cap of a rank whose peers are all reached without a helper thread, given how many ranks
 * share this host (SYNCBN_SPIN_US overrides). Spinning only pays when every rank has a core of its
 * own: then the core has nothing else to do, and a sleep costs a wake-up (on a VM the sleeper's vCPU
 * halts and the host must reschedule it). A synchronous step waits through the other rank's stalls,
 * so the cap is long enough to spin through typical ones; the engine halves its budget after misses
 * (floor cap/16). Measurements behind 10 ms: docs/tuning.md.
 */
export function coreSpinUs(ranksOnHost: number): number {
  return spinUsFromEnv(ranksOnHost <= hardwareThreads() ? 10_000 : 0);
}

/** SYNCBN_SPIN_US (a non-negative integer, µs) if set, else `dflt`; a bad value is a UsageError. */
export function spinUsFromEnv(dflt: number): number {
  return envConfig().SYNCBN_SPIN_US ?? dflt;
}
