// The Transport contract: a core of per-peer byte rings, a waiter, optional capabilities; transports never reduce.
import { hardwareThreads } from '#platform';
import type { CommError } from '../errors.js';
import { envConfig } from './config.js';
import type { Ring } from './ring.js';
import type { LinkKind } from './types.js';
import type { Waiter } from './waiter.js';

export type { LinkKind };

/**
 * The core of a transport: what the point-to-point ops and the algorithms may use. Point-to-point
 * byte streams between world ranks, as shared-memory rings the calling thread reads and writes
 * directly (threads: the peer's thread is the other end; TCP: the rank's thread or a comm worker
 * thread moves each ring to a socket), peer liveness, the world-wide abort record, collective
 * progress, and leaving.
 *
 * Contract: `out(peer)` and `in(peer)` are single-producer single-consumer rings whose other ends
 * are the peer's `in(rank)` and `out(rank)`; bytes arrive whole and in order, in 8-byte units.
 * After publishing or consuming, call notifySent/notifyConsumed, which wake whoever may wait on
 * them. A transport never reduces and never interprets the bytes.
 */
export interface TransportCore {
  readonly kind: 'threads' | 'tcp';
  readonly rank: number;
  readonly size: number;
  /** How bytes reach `peer` (see LinkKind). */
  link(peer: number): LinkKind;
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
  /** True when every byte written has left this rank (TCP: handed to the kernel). */
  flushed(): boolean;
  /** Leave: peers that later wait on this rank fail with PeerDiedError. */
  close(): Promise<void>;
}

/**
 * Optional capability of a transport whose calling thread moves its own bytes (TCP with direct
 * sockets): large payloads go between the socket and the caller's buffer without the ring copy (the
 * copy was a third of the memory traffic of a bulk all-reduce). Both calls are progressed further
 * by the transport's pump (see Waiter). Why a separate object: the ops receive it explicitly
 * (`TaskCtx.zeroCopy`, null when absent) instead of probing the transport for optional methods.
 */
export interface ZeroCopy {
  /**
   * Write `src[off, end)` to `peer` from where it is, not via the outbox. Starts when the outbox is
   * empty and no other such write to `peer` is under way. Returns the offset in `src` reached so
   * far by the write of `src` (`off` if it could not start yet; −1 if `peer` has no such path: use
   * the outbox). `src` must not change until the returned offset reaches `end`.
   */
  sendNow(peer: number, src: Uint8Array, off: number, end: number): number;
  /**
   * The mirror of sendNow: the next stream bytes from `peer` go to `dst[off, end)` (`end − off` a
   * multiple of 8) instead of the inbox. Starts when the inbox holds no published bytes (a partial
   * 8-byte unit already read is moved to `dst`). Returns the offset reached in `dst` (`off` if it
   * could not start; −1: no such path for this peer).
   */
  recvNow(peer: number, dst: Uint8Array, off: number, end: number): number;
}

/**
 * Optional capability of the threads transport when the launcher shared every rank's wasm heap
 * (spawnThreads does): an algorithm may read a peer's heap-resident buffer where it is (see
 * shared.ts). Received explicitly (`TaskCtx.sharedHeaps`, null when absent).
 */
export interface SharedHeaps {
  /** `peer`'s heap as it is now (a shared memory may have grown since last asked); null: not shared. */
  heap(peer: number): SharedArrayBuffer | null;
}

/**
 * A transport as a rank holds it: the core, the Waiter its engine waits with, and its optional
 * capabilities, each fixed for the transport's life. Waiting is on one doorbell per rank, so the
 * same algorithm code runs blocking (Atomics.wait) or on the event loop (Atomics.waitAsync).
 */
export interface Transport extends TransportCore {
  /** How this rank's engine waits for progress (doorbell, spin budget, pump); see Waiter. */
  readonly waiter: Waiter;
  /** Zero-copy sends and receives of large payloads, or null (the rings carry everything). */
  readonly zeroCopy: ZeroCopy | null;
  /** Peers' wasm heaps readable from this thread, or null. */
  readonly sharedHeaps: SharedHeaps | null;
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
