// Shared-memory transport between the worker threads of one process: a ring per ordered pair of ranks.
import { onThreadExit } from '#platform';
import { UsageError } from '../errors.js';
import type { CommError } from '../errors.js';
import { Control, PEER_LEFT } from './control.js';
import { Ring } from './ring.js';
import { coreSpinUs, type LinkKind, type SharedHeaps, type Transport } from './transport.js';
import { Waiter } from './waiter.js';

/** What a thread rank needs to join: passed in workerData by the launcher. */
export interface ThreadsWorld {
  sab: SharedArrayBuffer;
  size: number;
  ringBytes: number;
}

/** Default ring capacity: up to 4 MiB per direction, about 64 MiB in all. */
export function defaultRingBytes(n: number): number {
  if (n < 2) return 64;
  let cap = 4 << 20;
  while (cap > 64 << 10 && cap * n * (n - 1) > 64 << 20) cap >>= 1;
  return cap;
}

function ringIndex(n: number, src: number, dst: number): number {
  return src * (n - 1) + (dst < src ? dst : dst - 1);
}

export function createThreadsWorld(size: number, ringBytes = defaultRingBytes(size)): ThreadsWorld {
  if (!Number.isInteger(size) || size < 1)
    throw new UsageError(`world size must be a positive integer, received ${size}`);
  if (ringBytes < 64 || (ringBytes & (ringBytes - 1)) !== 0)
    throw new UsageError(`ringBytes must be a power of two ≥ 64, received ${ringBytes}`);
  const bytes = Control.bytes(size) + size * (size - 1) * Ring.bytes(ringBytes);
  return { sab: new SharedArrayBuffer(bytes), size, ringBytes };
}

/** The world's control block (for the launcher: marking a dead thread, aborting). */
export function worldControl(w: ThreadsWorld): Control {
  return new Control(w.sab, 0, w.size);
}

/** Every rank's wasm heap, as the launcher shared them: readable from any rank's thread. */
class ThreadHeaps implements SharedHeaps {
  constructor(private readonly heaps: readonly WebAssembly.Memory[]) {}
  heap(peer: number): SharedArrayBuffer | null {
    const m = this.heaps[peer];
    return m === undefined ? null : (m.buffer as unknown as SharedArrayBuffer);
  }
}

/**
 * Rings in one SharedArrayBuffer; a peer's thread is the other end of each, and rings this rank's
 * doorbell when it publishes or consumes. No zero-copy capability: a ring copy is the transfer.
 */
export class ThreadsTransport implements Transport {
  readonly kind = 'threads' as const;
  readonly size: number;
  readonly waiter: Waiter;
  readonly zeroCopy = null;
  readonly sharedHeaps: SharedHeaps | null;
  private readonly ctl: Control;
  private readonly spinUs: number;
  private readonly outs: Ring[] = [];
  private readonly ins: Ring[] = [];

  constructor(
    w: ThreadsWorld,
    readonly rank: number,
    /** Every rank's wasm heap, when the launcher shared them (spawnThreads does). */
    heaps?: readonly WebAssembly.Memory[],
  ) {
    this.size = w.size;
    this.ctl = worldControl(w);
    this.spinUs = coreSpinUs(w.size);
    this.waiter = new Waiter(this.ctl, rank, this.spinUs, null);
    this.sharedHeaps = heaps !== undefined ? new ThreadHeaps(heaps) : null;
    const base = Control.bytes(w.size);
    const rb = Ring.bytes(w.ringBytes);
    for (let p = 0; p < w.size; p++) {
      if (p === rank) continue;
      this.outs[p] = new Ring(w.sab, base + ringIndex(w.size, rank, p) * rb, w.ringBytes);
      this.ins[p] = new Ring(w.sab, base + ringIndex(w.size, p, rank) * rb, w.ringBytes);
    }
  }

  link(peer: number): LinkKind {
    return peer === this.rank ? 'self' : 'shared-memory';
  }
  out(peer: number): Ring {
    return this.outs[peer]!;
  }
  in(peer: number): Ring {
    return this.ins[peer]!;
  }
  notifySent(peer: number): void {
    this.ctl.ring(peer);
  }
  notifyConsumed(peer: number): void {
    this.ctl.ring(peer);
  }
  peerState(peer: number): number {
    return this.ctl.peerState(peer);
  }
  abort(err: CommError): CommError {
    return this.ctl.abort(err);
  }
  abortError(): CommError | null {
    return this.ctl.abortError();
  }
  setProgress(groupId: number, seq: number): void {
    this.ctl.setProgress(this.rank, groupId, seq);
  }
  // The contract is a generator (TCP yields while it waits for answers); shared memory answers at once.
  // eslint-disable-next-line require-yield
  *queryProgress(groupId: number, peers: readonly number[]): Generator<void, (number | null)[], void> {
    return peers.map((p) => this.ctl.getProgress(p, groupId));
  }
  flushed(): boolean {
    return true;
  }
  async close(): Promise<void> {
    this.leave();
  }

  private leave(): void {
    this.ctl.setPeerState(this.rank, PEER_LEFT);
    this.ctl.ringAll();
  }

  /**
   * A rank whose thread ends without close() leaves the group from that thread, as it exits: the
   * launcher's 'exit' event also says so, but only once the launcher's event loop runs, which a busy
   * launcher thread delays up to the waiting peers' timeout. A non-zero exit is left to the
   * launcher, which knows the error and marks the rank dead with it (dead, not left: the root cause).
   */
  leaveAtExit(): void {
    onThreadExit((code) => {
      if (code === 0) this.leave();
    });
  }
}
