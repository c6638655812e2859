// Point-to-point message operations over a Transport and the loop that progresses several at once.
import { CollectiveMismatchError, CommError, CommTimeoutError, PeerDiedError } from '../errors.js';
import { PEER_ALIVE, PEER_LEFT } from './control.js';
import type { Ring } from './ring.js';
import type { ZeroCopy } from './transport.js';
import { describeTask, WORLD_GROUP_ID, type Op, type Sink, type TaskCtx } from './task.js';
import {
  HEADER_BYTES,
  KIND,
  KIND_NAMES,
  MAX_TAG_BYTES,
  decodeFixed,
  decodeTag,
  describeCall,
  encodeHeaderInto,
  headerBytes,
  headerMismatch,
  pad8,
  type Header,
} from './wire.js';

// Re-exported: the algorithms import the whole op vocabulary from here.
export { describeTask, WORLD_GROUP_ID } from './task.js';
export type { Op, Sink, TaskCtx } from './task.js';

// One scratch per thread for encoding (send) and peeking (receive) headers: messages are encoded
// right before they are copied into a ring, and decoded right after they are peeked from one.
const scratch = new Uint8Array(headerBytes(MAX_TAG_BYTES));
const scratchView = new DataView(scratch.buffer);

/**
 * Payload left to send from which zero-copy (ZeroCopy.sendNow) is tried (below it, one copy and one
 * write are cheaper than two writes).
 */
const SEND_NOW_MIN = 64 << 10;

export class SendOp implements Op {
  done = false;
  readonly recv = false;
  private readonly headLen: number;
  private readonly ring: Ring;
  private readonly world: number;
  private headSent = false;
  private off = 0;
  /** The zero-copy capability while this payload may still use it (null: the ring only). */
  private zc: ZeroCopy | null;

  constructor(
    private readonly ctx: TaskCtx,
    readonly peer: number,
    private readonly payload: Uint8Array,
  ) {
    this.headLen = headerBytes(ctx.tagBytes.length);
    this.world = ctx.worldRanks[peer]!;
    this.ring = ctx.t.out(this.world);
    this.zc = payload.length >= SEND_NOW_MIN ? ctx.zeroCopy : null;
  }

  step(): boolean {
    const r = this.ring;
    let free = r.free();
    let moved = false;
    if (!this.headSent) {
      const n = this.headLen;
      if (free < n) return false;
      encodeHeaderInto(scratch, scratchView, this.ctx.hdr, this.payload.length, this.ctx.groupRank, this.ctx.tagBytes);
      r.push(scratch, 0, n, n);
      free -= n;
      this.headSent = true;
      moved = true;
    }
    const p = this.payload;
    const total = pad8(p.length);
    const t = this.ctx.t;
    // A large payload goes to the socket from where it is once what precedes it has left (the copy
    // into the outbox was a third of the memory traffic of a bulk all-reduce over TCP); its last
    // partial 8 bytes and the padding take the ring.
    const zc = this.zc;
    if (zc !== null) {
      const end = p.length & ~7;
      if (this.off < end) {
        if (r.pending() !== 0) t.notifySent(this.world);
        const to = zc.sendNow(this.world, p, this.off, end);
        if (to < 0) this.zc = null;
        else {
          if (to > this.off) {
            this.off = to;
            moved = true;
          }
          if (this.off < end) return moved; // the waiter's pump carries it on
        }
      }
    }
    while (this.off < total && free >= 8) {
      const n = Math.min(free & ~7, total - this.off);
      const take = Math.max(0, Math.min(n, p.length - this.off));
      r.push(p, this.off, take, n);
      this.off += n;
      free -= n;
      moved = true;
    }
    if (this.off >= total) this.done = true;
    if (moved) this.ctx.t.notifySent(this.world);
    return moved;
  }
}

export class RecvOp implements Op {
  done = false;
  readonly recv = true;
  private readonly ring: Ring;
  private readonly world: number;
  private hdr: Header | null = null;
  private sink: Sink | null = null;
  private off = 0;
  private total = 0;
  /** Zero-copy receive (into sink.into or sink.scratch) up to this payload offset (0: not used). */
  private fastEnd = 0;
  /** The zero-copy capability this receive uses (set with fastEnd). */
  private zc: ZeroCopy | null = null;

  /** `onHeader` checks the header's payload size and returns where the payload goes. */
  constructor(
    private readonly ctx: TaskCtx,
    readonly peer: number,
    private readonly onHeader: (h: Header) => Sink,
  ) {
    this.world = ctx.worldRanks[peer]!;
    this.ring = ctx.t.in(this.world);
  }

  step(): boolean {
    const r = this.ring;
    let avail = r.avail();
    let moved = false;
    if (this.hdr === null) {
      if (avail < HEADER_BYTES) return false;
      r.peekInto(scratch, HEADER_BYTES);
      const h = decodeFixed(scratch, scratchView);
      if (h === null)
        throw new CommError(
          `${describeTask(this.ctx)}: corrupt message stream from rank ${this.peer} (bad magic); the transport is ` +
            `out of sync`,
        );
      const hlen = headerBytes(h.tagLen);
      if (avail < hlen) return false;
      r.peekInto(scratch, h.tagLen, HEADER_BYTES);
      // The common case, the same tag as ours, is recognised from the bytes without decoding them.
      h.tag = sameBytes(scratch, this.ctx.tagBytes, h.tagLen)
        ? this.ctx.hdr.tag
        : decodeTag(scratch.subarray(0, h.tagLen));
      const bad = headerMismatch(this.ctx.hdr, h);
      if (bad !== null || h.src !== this.peer) throw mismatchError(this.ctx, h, this.peer);
      r.consume(hlen);
      avail -= hlen;
      this.hdr = h;
      this.total = pad8(h.bytes);
      this.sink = this.onHeader(h);
      const direct = this.sink.into !== undefined || this.sink.scratch !== undefined;
      if (direct && this.ctx.zeroCopy !== null && h.bytes >= SEND_NOW_MIN) {
        this.zc = this.ctx.zeroCopy;
        this.fastEnd = h.bytes & ~7;
      }
      moved = true;
    }
    // First what the transport read straight to its use; bytes already in the ring came before.
    const zc = this.zc;
    while (zc !== null && this.off < this.fastEnd) {
      const got = this.recvDirect(zc);
      if (got < 0) this.fastEnd = 0;
      if (got <= 0) break;
      this.off += got;
      moved = true;
    }
    if (this.fastEnd > 0) avail = r.avail();
    while (this.off < this.total && avail > 0) {
      const pos = r.tailPos();
      const n = Math.min(avail, r.cap - pos, this.total - this.off);
      const real = Math.min(n, this.hdr.bytes - this.off);
      if (real > 0) this.sink!(r, pos, real, this.off);
      r.consume(n);
      this.off += n;
      avail -= n;
      moved = true;
    }
    if (this.off >= this.total) this.done = true;
    if (moved) this.ctx.t.notifyConsumed(this.world);
    return moved;
  }

  /** Payload bytes the transport delivered straight to the sink (−1: it cannot for this peer). */
  private recvDirect(zc: ZeroCopy): number {
    const s = this.sink!;
    if (s.into !== undefined) {
      const to = zc.recvNow(this.world, s.into, this.off, this.fastEnd);
      return to < 0 ? -1 : to - this.off;
    }
    // Into the scratch, whole: its bytes are consumed (reduced) together.
    const n = Math.min(s.scratch!.length, this.fastEnd - this.off);
    const to = zc.recvNow(this.world, s.scratch!, 0, n);
    if (to < 0) return -1;
    if (to < n) return 0;
    s.take!(n, this.off);
    return n;
  }
}

/** An empty payload: a message that is only its header. */
export const EMPTY = new Uint8Array(0);
const drop: Sink = () => {};

/**
 * Every member sends `payload` to every other and receives one of the same length from each
 * (given to `sinkOf(g)`, else dropped): an all-to-all exchange, and so a barrier.
 */
export function* exchangeAll(
  ctx: TaskCtx,
  payload: Uint8Array,
  sinkOf?: (g: number) => Sink,
): Generator<void, void, void> {
  const ops: Op[] = [];
  for (let g = 0; g < ctx.worldRanks.length; g++) {
    if (g === ctx.groupRank) continue;
    ops.push(
      new SendOp(ctx, g, payload),
      new RecvOp(ctx, g, (h) => (expectBytes(ctx, h, payload.length), sinkOf?.(g) ?? drop)),
    );
  }
  yield* progressAll(ctx, ops);
}

/** A message's payload size must be what the collective expects (a protocol error otherwise). */
export function expectBytes(ctx: TaskCtx, h: Header, bytes: number): void {
  if (h.bytes !== bytes)
    throw new CommError(
      `collective #${ctx.hdr.seq}: rank ${h.src} sent ${h.bytes} payload bytes where ${bytes} were expected ` +
        `(protocol error)`,
    );
}

function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  if (b.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function mismatchError(ctx: TaskCtx, theirs: Header, peer: number): CollectiveMismatchError {
  const mine = ctx.hdr;
  const me = ctx.groupRank;
  const a = describeCall(mine, theirs, ctx.groupName);
  const b = describeCall(theirs, mine, ctx.groupName);
  const [first, second] =
    me < peer
      ? [`rank ${me} called ${a}`, `rank ${peer} called ${b}`]
      : [`rank ${peer} called ${b}`, `rank ${me} called ${a}`];
  const group = mine.groupId === WORLD_GROUP_ID ? '' : ` (group ${ctx.groupName(mine.groupId)})`;
  const title = mine.kind === theirs.kind ? KIND_NAMES[mine.kind] : 'collective';
  ctx.waitingOn = [peer];
  return new CollectiveMismatchError(`${title} #${mine.seq} mismatch${group}: ${first} but ${second}`);
}

/** Progress every op until all are done; yields (to the driver, which sleeps on the doorbell) when stuck. */
export function* progressAll(ctx: TaskCtx, ops: readonly Op[]): Generator<void, void, void> {
  for (;;) {
    let moved = false;
    let done = true;
    for (const op of ops) {
      if (op.done) continue;
      if (op.step()) moved = true;
      if (!op.done) done = false;
    }
    if (done) return;
    if (moved) continue;
    yield;
    yield* checkBlocked(ctx, ops);
  }
}

/** Run ops one after another (e.g. receive contributions in rank order), sends all at once. */
export function* progressOrdered(
  ctx: TaskCtx,
  sends: readonly Op[],
  recvs: readonly Op[],
): Generator<void, void, void> {
  let i = 0;
  for (;;) {
    let moved = false;
    let done = true;
    for (const op of sends) {
      if (op.done) continue;
      if (op.step()) moved = true;
      if (!op.done) done = false;
    }
    while (i < recvs.length) {
      const op = recvs[i]!;
      if (op.step()) moved = true;
      if (!op.done) break;
      i++;
    }
    if (i < recvs.length) done = false;
    if (done) return;
    if (moved) continue;
    yield;
    yield* checkBlocked(ctx, i < recvs.length ? [...sends, recvs[i]!] : sends);
  }
}

/** After a wake-up with nothing to do: an abort, a peer gone, or the deadline passed. */
function* checkBlocked(ctx: TaskCtx, ops: readonly Op[]): Generator<void, void, void> {
  const t = ctx.t;
  const ab = t.abortError();
  if (ab !== null) {
    ctx.waitingOn = waitingPeers(ops);
    throw ab;
  }
  for (const op of ops) {
    if (op.done) continue;
    const w = ctx.worldRanks[op.peer]!;
    const st = t.peerState(w);
    if (st === PEER_ALIVE) continue;
    // Data it sent before leaving is still consumable: only fail if nothing is left to read.
    if (op.recv && t.in(w).avail() > 0) continue;
    const how = st === PEER_LEFT ? 'left the group (closed it or exited)' : 'died';
    ctx.waitingOn = waitingPeers(ops);
    throw new PeerDiedError(
      `${describeTask(ctx)} failed on rank ${ctx.groupRank}: rank ${op.peer} ${how} before completing it`,
      w,
    );
  }
  if (performance.now() >= ctx.deadline) yield* timeout(ctx, ops);
}

/** Group ranks of the ops not done, sorted, once each. */
function waitingPeers(ops: readonly Op[]): number[] {
  return [...new Set(ops.filter((o) => !o.done).map((o) => o.peer))].sort((a, b) => a - b);
}

function* timeout(ctx: TaskCtx, ops: readonly Op[]): Generator<void, never, void> {
  const members = ctx.worldRanks;
  const others = members.map((_, g) => g).filter((g) => g !== ctx.groupRank);
  const seen = yield* ctx.t.queryProgress(
    ctx.hdr.groupId,
    others.map((g) => members[g]!),
  );
  const missing: number[] = [];
  const unreachable: number[] = [];
  others.forEach((g, i) => {
    const s = seen[i];
    if (s === null || s === undefined) unreachable.push(g);
    else if (s < ctx.hdr.seq) missing.push(g);
  });
  const waiting = waitingPeers(ops);
  ctx.waitingOn = [...new Set([...missing, ...unreachable, ...waiting])].sort((a, b) => a - b);
  let why: string;
  if (missing.length > 0) why = `rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} never arrived`;
  else if (unreachable.length > 0)
    why = `rank${unreachable.length > 1 ? 's' : ''} ${unreachable.join(', ')} did not answer`;
  else
    why =
      `every rank arrived; rank ${ctx.groupRank} was still waiting on data from ` +
      `rank${waiting.length > 1 ? 's' : ''} ${waiting.join(', ')}`;
  const all = [...missing, ...unreachable].sort((a, b) => a - b);
  throw new CommTimeoutError(`${describeTask(ctx)} timed out after ${ctx.timeoutMs} ms: ${why}`, all);
}

export { KIND };
