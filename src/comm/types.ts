// The collective-communication contract: what SyncBN and DDP call, whatever the transport underneath.

/** How allReduce combines the ranks' values, elementwise. */
export type ReduceOp = 'sum' | 'max' | 'min';
/** The arrays collectives move: float32 or float64. */
export type CommArray = Float32Array | Float64Array;

/**
 * self: this rank; shared-memory: rings read by the peer's thread (threads); socket: a TCP socket
 * this rank's thread reads and writes; relay: TCP through this rank's comm worker thread.
 */
export type LinkKind = 'self' | 'shared-memory' | 'socket' | 'relay';

/** Per-call options of every collective. */
export interface CollectiveOptions {
  /** Names the call site (e.g. a layer name); carried with the collective and compared across ranks. */
  tag?: string;
  /** Overrides the group's timeout for this call, in milliseconds. */
  timeoutMs?: number;
}

/** A started asynchronous collective (for overlap, e.g. DDP gradient buckets). */
export interface PendingCollective<T = void> {
  /** Resolves when the collective completes on this rank. */
  readonly done: Promise<T>;
  /** Block the calling thread until complete (Atomics.wait based); throws the collective's error. */
  waitSync(): T;
}

/**
 * A set of ranks that run collectives together. Every member must call every collective in the same
 * order; a mismatch (kind, length, dtype, tag, sequence) fails on every rank with a message showing
 * both sides, and a dead or late rank fails every pending collective with a typed CommError.
 * Results are bitwise identical on every rank (fixed reduction order).
 */
export interface ProcessGroup {
  /** This process's rank within the group, 0..size−1. */
  readonly rank: number;
  /** The number of ranks in the group. */
  readonly size: number;
  /** The members' ranks in the world group, in group-rank order. */
  readonly worldRanks: readonly number[];

  /**
   * How bytes reach each member, by group rank: 'self'; 'shared-memory' (threads); 'socket' (TCP,
   * read and written by this rank's thread); 'relay' (TCP through its comm worker thread: Windows,
   * SYNCBN_TCP_DIRECT=0 on either side).
   */
  readonly links: readonly LinkKind[];

  /** In place: buf ← op over all ranks' buf. */
  allReduce(buf: CommArray, op?: ReduceOp, opts?: CollectiveOptions): Promise<void>;
  /** allReduce, blocking the calling thread until done (for code that cannot await, e.g. inside backward). */
  allReduceSync(buf: CommArray, op?: ReduceOp, opts?: CollectiveOptions): void;
  /** Start an all-reduce and return at once (the caller keeps computing). */
  allReduceStart(buf: CommArray, op?: ReduceOp, opts?: CollectiveOptions): PendingCollective;

  /** Every rank's contribution (lengths may differ), indexed by group rank; same dtype as buf. */
  allGather(buf: CommArray, opts?: CollectiveOptions): Promise<CommArray[]>;
  /** allGather, blocking the calling thread until done. */
  allGatherSync(buf: CommArray, opts?: CollectiveOptions): CommArray[];

  /** In place: buf ← root's buf. */
  broadcast(buf: CommArray, root: number, opts?: CollectiveOptions): Promise<void>;
  /** broadcast, blocking the calling thread until done. */
  broadcastSync(buf: CommArray, root: number, opts?: CollectiveOptions): void;

  /** Resolves once every member has entered the barrier. */
  barrier(opts?: CollectiveOptions): Promise<void>;
  /** barrier, blocking the calling thread until done. */
  barrierSync(opts?: CollectiveOptions): void;

  /**
   * Collective over this group: every member calls it with the same list of group ranks; members get
   * the new group, non-members get null.
   */
  newGroup(ranks: readonly number[]): Promise<ProcessGroup | null>;
  /** newGroup, blocking the calling thread until done. */
  newGroupSync(ranks: readonly number[]): ProcessGroup | null;

  /** Leave: releases transports/threads; later calls throw. */
  close(): Promise<void>;
}
