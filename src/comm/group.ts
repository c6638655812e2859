// ProcessGroup over a Transport: validation, sequence numbers, tags, subgroups, sync/async/overlapped forms.
import { StateError, UsageError, describe } from '../errors.js';
import * as alg from './algorithms.js';
import { Engine, Task } from './engine.js';
import { WORLD_GROUP_ID, type TaskCtx } from './ops.js';
import type { Transport } from './transport.js';
import type { CollectiveOptions, CommArray, LinkKind, PendingCollective, ProcessGroup, ReduceOp } from './types.js';
import { KIND, OPS, dtypeOf, encodeTag, type Header } from './wire.js';

// Tags' wire bytes and (truncated) text. SyncBN layers and DDP buckets reuse a few tags every step, so
// caching saves a UTF-8 encode + decode per collective; bounded (cleared when full) for one-off tags.
// The bytes are shared and only ever read (copied into headers).
const tagDecoder = new TextDecoder();
const tagCache = new Map<string, { bytes: Uint8Array; text: string }>();
const TAG_CACHE_MAX = 256;
function wireTag(tag: string): { bytes: Uint8Array; text: string } {
  let e = tagCache.get(tag);
  if (e === undefined) {
    if (tagCache.size >= TAG_CACHE_MAX) tagCache.clear();
    const bytes = encodeTag(tag);
    e = { bytes, text: tagDecoder.decode(bytes) };
    tagCache.set(tag, e);
  }
  return e;
}

export { DEFAULT_TIMEOUT_MS } from './config.js';

/** FNV-1a 32-bit, never 0 or 1 (0 marks an empty progress entry, 1 is the world group). */
export function groupHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h >>>= 0;
  return h <= 1 ? h + 2 : h;
}

export function checkTimeout(where: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new UsageError(
      `${where}: timeoutMs must be a positive finite number of milliseconds, received ${describe(v)}`,
    );
  return v;
}

/** Shared by every group of one rank: one engine (collectives run in call order), names for messages. */
export class RankState {
  readonly engine: Engine;
  readonly names = new Map<number, string>([[WORLD_GROUP_ID, 'world']]);
  constructor(readonly t: Transport) {
    this.engine = new Engine(t);
  }
}

export class Group implements ProcessGroup {
  readonly rank: number;
  readonly size: number;
  private seq = 0;
  private children = 0;
  private closed = false;

  constructor(
    private readonly st: RankState,
    readonly worldRanks: readonly number[],
    readonly id: number,
    readonly timeoutMs: number,
  ) {
    this.rank = worldRanks.indexOf(st.t.rank);
    this.size = worldRanks.length;
  }

  /** A group id's name for messages (one function per group, not a closure per collective). */
  private readonly nameOf = (id: number): string => this.st.names.get(id) ?? `0x${id.toString(16)}`;

  get isClosed(): boolean {
    return this.closed;
  }

  /** The transport kind underneath: 'threads' or 'tcp'. */
  get transport(): 'threads' | 'tcp' {
    return this.st.t.kind;
  }

  get links(): readonly LinkKind[] {
    return this.worldRanks.map((w) => this.st.t.link(w));
  }

  // ---- all-reduce
  allReduce(buf: CommArray, op: ReduceOp = 'sum', opts?: CollectiveOptions): Promise<void> {
    return this.st.engine.runAsync(this.reduceTask('allReduce', buf, op, opts));
  }
  allReduceSync(buf: CommArray, op: ReduceOp = 'sum', opts?: CollectiveOptions): void {
    this.st.engine.runSync(this.reduceTask('allReduceSync', buf, op, opts));
  }
  allReduceStart(buf: CommArray, op: ReduceOp = 'sum', opts?: CollectiveOptions): PendingCollective {
    const task = this.reduceTask('allReduceStart', buf, op, opts);
    const engine = this.st.engine;
    engine.poll(); // write our first messages now: the peers can start while we keep computing
    let done: Promise<void> | null = null;
    return {
      get done(): Promise<void> {
        return (done ??= engine.runAsync(task));
      },
      waitSync: (): void => engine.runSync(task),
    };
  }

  private reduceTask(where: string, buf: CommArray, op: ReduceOp, opts?: CollectiveOptions): Task<void> {
    checkArray(where, buf);
    const o = OPS.indexOf(op);
    if (o < 0) throw new UsageError(`${where}: op must be one of 'sum', 'max', 'min', received ${describe(op)}`);
    return this.submit(where, KIND.allReduce, buf, o, 0, opts, (ctx) => alg.allReduce(ctx, buf, o));
  }

  // ---- all-gather
  allGather(buf: CommArray, opts?: CollectiveOptions): Promise<CommArray[]> {
    return this.st.engine.runAsync(this.gatherTask('allGather', buf, opts));
  }
  allGatherSync(buf: CommArray, opts?: CollectiveOptions): CommArray[] {
    return this.st.engine.runSync(this.gatherTask('allGatherSync', buf, opts));
  }
  private gatherTask(where: string, buf: CommArray, opts?: CollectiveOptions): Task<CommArray[]> {
    checkArray(where, buf);
    return this.submit(where, KIND.allGather, buf, 0, 0, opts, (ctx) => alg.allGather(ctx, buf));
  }

  // ---- broadcast
  broadcast(buf: CommArray, root: number, opts?: CollectiveOptions): Promise<void> {
    return this.st.engine.runAsync(this.bcastTask('broadcast', buf, root, opts));
  }
  broadcastSync(buf: CommArray, root: number, opts?: CollectiveOptions): void {
    this.st.engine.runSync(this.bcastTask('broadcastSync', buf, root, opts));
  }
  private bcastTask(where: string, buf: CommArray, root: number, opts?: CollectiveOptions): Task<void> {
    checkArray(where, buf);
    if (!Number.isInteger(root) || root < 0 || root >= this.size)
      throw new UsageError(
        `${where}: root must be an integer group rank in [0, ${this.size}), received ${describe(root)}`,
      );
    return this.submit(where, KIND.broadcast, buf, 0, root, opts, (ctx) => alg.broadcast(ctx, buf, root));
  }

  // ---- barrier
  barrier(opts?: CollectiveOptions): Promise<void> {
    return this.st.engine.runAsync(this.submit('barrier', KIND.barrier, null, 0, 0, opts, (ctx) => alg.barrier(ctx)));
  }
  barrierSync(opts?: CollectiveOptions): void {
    this.st.engine.runSync(this.submit('barrierSync', KIND.barrier, null, 0, 0, opts, (ctx) => alg.barrier(ctx)));
  }

  // ---- subgroups
  newGroup(ranks: readonly number[]): Promise<ProcessGroup | null> {
    const [task, make] = this.groupTask('newGroup', ranks);
    return this.st.engine.runAsync(task).then(make);
  }
  newGroupSync(ranks: readonly number[]): ProcessGroup | null {
    const [task, make] = this.groupTask('newGroupSync', ranks);
    this.st.engine.runSync(task);
    return make();
  }
  private groupTask(where: string, ranks: readonly number[]): [Task<void>, () => Group | null] {
    if (!Array.isArray(ranks) || ranks.length === 0)
      throw new UsageError(`${where}: ranks must be a non-empty array of group ranks, received ${describe(ranks)}`);
    const seen = new Set<number>();
    for (const r of ranks) {
      if (!Number.isInteger(r) || r < 0 || r >= this.size)
        throw new UsageError(`${where}: ranks must be integers in [0, ${this.size}), received ${describe(ranks)}`);
      if (seen.has(r))
        throw new UsageError(`${where}: ranks must be distinct, received ${describe(ranks)} (${r} twice)`);
      seen.add(r);
    }
    const child = this.children++;
    const id = groupHash(`${this.id}/${child}`);
    const members = ranks.map((r) => this.worldRanks[r]!);
    const hash = groupHash(ranks.join(','));
    const task = this.submit(
      where,
      KIND.newGroup,
      null,
      0,
      hash | 0,
      undefined,
      (ctx) => alg.checkAll(ctx),
      ranks.length,
    );
    const make = (): Group | null => {
      this.st.names.set(id, `{${members.join(',')}}`);
      return seen.has(this.rank) ? new Group(this.st, members, id, this.timeoutMs) : null;
    };
    return [task, make];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.id === WORLD_GROUP_ID) await this.st.t.close();
  }

  private submit<T>(
    where: string,
    kind: number,
    buf: CommArray | null,
    op: number,
    extra: number,
    opts: CollectiveOptions | undefined,
    body: (ctx: TaskCtx) => Generator<void, T, void>,
    len = buf?.length ?? 0,
  ): Task<T> {
    if (this.closed) throw new StateError(`${where}: the process group is closed`);
    let timeoutMs = this.timeoutMs;
    let tag = '';
    if (opts !== undefined) {
      if (typeof opts !== 'object' || opts === null)
        throw new UsageError(`${where}: options must be an object, received ${describe(opts)}`);
      if (opts.timeoutMs !== undefined) timeoutMs = checkTimeout(where, opts.timeoutMs);
      if (opts.tag !== undefined) {
        if (typeof opts.tag !== 'string')
          throw new UsageError(`${where}: tag must be a string, received ${describe(opts.tag)}`);
        tag = opts.tag;
      }
    }
    const seq = ++this.seq;
    const { bytes: tagBytes, text: tagText } = wireTag(tag);
    const hdr: Header = {
      groupId: this.id,
      seq,
      kind,
      dtype: buf ? dtypeOf(buf) : 0,
      op,
      len,
      bytes: 0,
      extra,
      src: this.rank,
      tag: tagText,
    };
    const t = this.st.t;
    const ctx: TaskCtx = {
      t,
      zeroCopy: t.zeroCopy,
      sharedHeaps: t.sharedHeaps,
      hdr,
      tagBytes,
      groupRank: this.rank,
      worldRanks: this.worldRanks,
      timeoutMs,
      deadline: Infinity,
      waitingOn: null,
      groupName: this.nameOf,
    };
    this.st.t.setProgress(this.id, seq);
    return this.st.engine.submit(new Task(ctx, body));
  }
}

function checkArray(where: string, buf: unknown): asserts buf is CommArray {
  if (!(buf instanceof Float32Array) && !(buf instanceof Float64Array))
    throw new UsageError(`${where}: buf must be a Float32Array or Float64Array, received ${describe(buf)}`);
}
