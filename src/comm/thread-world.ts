// What both thread launchers share (worker_threads in Node, Web Workers in browsers): the world, its liveness rules.
import { PeerDiedError } from '../errors.js';
import { createHeapMemory } from '../kernels/wasm/instance.js';
import { PEER_DEAD, PEER_LEFT, type Control } from './control.js';
import { createThreadsWorld, worldControl, type ThreadsWorld } from './threads.js';

/** A launch's shared memory: the rings and control block, and every rank's wasm heap (each rank gets all of them). */
export interface ThreadRanks {
  world: ThreadsWorld;
  ctl: Control;
  heaps: WebAssembly.Memory[];
  /** What rank r's worker is handed (Node: its workerData; browsers: the same object, posted). */
  workerData(r: number): {
    syncbnThreads: { world: ThreadsWorld; rank: number; heaps: WebAssembly.Memory[] };
    syncbnHeap: WebAssembly.Memory;
  };
  /** Rank r ended cleanly: its peers see it leave (a collective still waiting on it then fails). */
  left(r: number): void;
  /** Rank r failed (`why`: "Name: message"): every pending and later collective throws PeerDiedError naming it. */
  died(r: number, why: string): void;
}

/** The world of `n` thread ranks, made by the launcher's thread before any rank starts. */
export function createThreadRanks(n: number, ringBytes?: number): ThreadRanks {
  const world = createThreadsWorld(n, ringBytes);
  const ctl = worldControl(world);
  const heaps = Array.from({ length: n }, () => createHeapMemory());
  return {
    world,
    ctl,
    heaps,
    workerData: (r) => ({ syncbnThreads: { world, rank: r, heaps }, syncbnHeap: heaps[r]! }),
    left(r) {
      ctl.setPeerState(r, PEER_LEFT);
      ctl.ringAll();
    },
    died(r, why) {
      // The reason first: a rank that sees the state first would otherwise store its own, vaguer one.
      ctl.abort(new PeerDiedError(`rank ${r} died (${why})`, r));
      ctl.setPeerState(r, PEER_DEAD);
    },
  };
}
