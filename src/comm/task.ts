// What one collective call knows (its context), the point-to-point op contract, and how a call is named in errors.
import type { Ring } from './ring.js';
import type { SharedHeaps, TransportCore, ZeroCopy } from './transport.js';
import { KIND_NAMES, type Header } from './wire.js';

/**
 * What one collective call knows: the transport's core, its capabilities (passed in explicitly:
 * null when the transport lacks one), the header, deadline, and the group's rank mapping.
 */
export interface TaskCtx {
  readonly t: TransportCore;
  /** Zero-copy sends and receives of large payloads (TCP with direct sockets), or null. */
  readonly zeroCopy: ZeroCopy | null;
  /** Peers' wasm heaps readable from this thread (threads started by spawnThreads), or null. */
  readonly sharedHeaps: SharedHeaps | null;
  readonly hdr: Header;
  readonly tagBytes: Uint8Array;
  readonly groupRank: number;
  readonly worldRanks: readonly number[];
  readonly timeoutMs: number;
  deadline: number;
  /** Set when it fails: the group ranks it was still waiting on (for the flight recorder). */
  waitingOn: number[] | null;
  groupName(id: number): string;
}

/** The call as errors name it: `allReduce #12 (tag "layer1.bn") on group 2`. */
export function describeTask(ctx: TaskCtx): string {
  const kind = KIND_NAMES[ctx.hdr.kind];
  const tag = ctx.hdr.tag !== '' ? ` (tag ${JSON.stringify(ctx.hdr.tag)})` : '';
  const group = ctx.hdr.groupId === WORLD_GROUP_ID ? '' : ` on group ${ctx.groupName(ctx.hdr.groupId)}`;
  return `${kind} #${ctx.hdr.seq}${tag}${group}`;
}

/** The id of the world group (subgroups get the next ones). */
export const WORLD_GROUP_ID = 1;

/**
 * A piece of payload is ready at ring.data[pos, pos+n); it is bytes [off, off+n) of the message.
 * With a zero-copy transport (ZeroCopy.recvNow) the payload may instead be read straight to where it
 * is used: `into`, when set, says the sink is a plain copy to into[off, off+n); `scratch` and `take`, that
 * payload bytes [off, off+n) may be read into scratch[0, n) (n ≤ its length, a multiple of 8) and then `take(n, off)`.
 */
export type Sink = ((ring: Ring, pos: number, n: number, off: number) => void) & {
  into?: Uint8Array;
  scratch?: Uint8Array;
  take?: (n: number, off: number) => void;
};

/** One point-to-point send or receive of a collective, progressed without blocking. */
export interface Op {
  done: boolean;
  /** Group rank of the peer. */
  readonly peer: number;
  readonly recv: boolean;
  /** Make what progress is possible without blocking; true if anything moved. */
  step(): boolean;
}
