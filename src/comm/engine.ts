// Runs one rank's collectives in call order, blocking (Atomics.wait) or on the event loop (Atomics.waitAsync).
import { CommError } from '../errors.js';
import { FlightRecorder } from './flight.js';
import { describeTask, type TaskCtx } from './ops.js';
import type { Transport } from './transport.js';
import type { Waiter } from './waiter.js';

export class Task<T = unknown> {
  started = false;
  settled = false;
  value: T | undefined;
  error: unknown;
  /** Settled by fail() (error may be any value, even undefined). */
  failed = false;
  private p: Promise<T> | null = null;
  private resolveP: ((v: T) => void) | null = null;
  private rejectP: ((e: unknown) => void) | null = null;
  private gen: Generator<void, T, void> | null = null;
  /** This collective's record in its rank's flight recorder (set by Engine.submit). */
  flight: FlightRecorder | null = null;
  fid = -1;

  constructor(
    readonly ctx: TaskCtx,
    private readonly body: (ctx: TaskCtx) => Generator<void, T, void>,
  ) {}

  /**
   * Made on first use: the blocking forms never ask for it, and two promises, a catch handler and
   * their closures per collective were most of a small collective's garbage.
   */
  get promise(): Promise<T> {
    if (this.p === null) {
      if (!this.settled) {
        this.p = new Promise<T>((res, rej) => {
          this.resolveP = res;
          this.rejectP = rej;
        });
      } else this.p = this.failed ? Promise.reject(this.error) : Promise.resolve(this.value as T);
      // A failed collective nobody awaits must not crash the process as an unhandled rejection:
      // the sync forms and waitSync report it by throwing.
      this.p.catch(noop);
    }
    return this.p;
  }

  /** Advance; returns true once settled. Throws nothing: errors settle the task. */
  step(): boolean {
    if (this.gen === null) {
      this.started = true;
      const now = performance.now();
      this.ctx.deadline = now + this.ctx.timeoutMs;
      this.flight?.start(this.fid, now);
      const ab = this.ctx.t.abortError();
      if (ab !== null) {
        this.fail(ab);
        return true;
      }
      this.gen = withFlush(this.ctx, this.body(this.ctx));
    }
    try {
      const r = this.gen.next();
      if (!r.done) return false;
      this.settled = true;
      this.value = r.value;
      this.flight?.end(this.fid, undefined, null);
      this.resolveP?.(r.value);
      return true;
    } catch (e) {
      // Store the reason world-wide first (the first one wins), so that every rank — this one
      // included — reports the same error even when several detect a problem at once.
      const err =
        e instanceof CommError
          ? e
          : new CommError(`${describeTask(this.ctx)} failed: ${String(e)}`, 'E_COMM', { cause: e });
      this.fail(this.ctx.t.abort(err));
      return true;
    }
  }

  fail(e: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.failed = true;
    this.error = e;
    this.flight?.end(this.fid, e, this.ctx.waitingOn);
    this.rejectP?.(e);
  }

  /** Milliseconds the driver may sleep before this task must look at its deadline. */
  waitMs(): number {
    const left = this.ctx.deadline - performance.now();
    return left > 0 ? Math.min(left + 1, 2 ** 31 - 1) : 20;
  }

  result(): T {
    if (this.failed) throw this.error;
    return this.value as T;
  }
}

function* withFlush<T>(ctx: TaskCtx, g: Generator<void, T, void>): Generator<void, T, void> {
  const v = yield* g;
  // Do not report completion while our bytes still sit in user space: the process may exit next.
  while (!ctx.t.flushed()) {
    yield;
    const ab = ctx.t.abortError();
    if (ab !== null) throw ab;
  }
  return v;
}

const noop = (): void => {};

/**
 * One per rank: runs its collectives strictly in call order (only the head task is stepped), from
 * a blocking call (runSync) or on the event loop (runAsync). Waiting goes through the transport's
 * Waiter, so the engine reads no transport internals.
 */
export class Engine {
  private readonly queue: Task<unknown>[] = [];
  private driving = false;
  private readonly waiter: Waiter;
  /** This rank's last collectives, for the error of a failed one (see flight.ts). */
  readonly flight: FlightRecorder;

  constructor(readonly t: Transport) {
    this.flight = new FlightRecorder(t.rank, t.size, t.kind);
    this.waiter = t.waiter;
  }

  submit<T>(task: Task<T>): Task<T> {
    task.flight = this.flight;
    task.fid = this.flight.add(task.ctx);
    this.queue.push(task as Task<unknown>);
    return task;
  }

  /** Block until `task` settles (driving every earlier task first, in order). */
  runSync<T>(task: Task<T>): T {
    const w = this.waiter;
    while (!task.settled) {
      const v = w.ticket();
      const head = this.queue[0];
      if (head === undefined) break;
      if (this.advance(head)) continue;
      w.waitSync(v, head.waitMs());
    }
    if (this.driving) w.wake(); // the async driver may sleep on a doorbell nobody will ring
    return task.result();
  }

  /** Resolve when `task` settles, progressing the queue on the event loop. */
  runAsync<T>(task: Task<T>): Promise<T> {
    if (!this.driving) void this.drive();
    return task.promise;
  }

  /** Non-blocking progress of queued work (e.g. right after starting an overlapped all-reduce). */
  poll(): void {
    this.waiter.poll();
    for (;;) {
      const head = this.queue[0];
      if (head === undefined || !this.advance(head)) return;
    }
  }

  /** Step the head task; on settle pop it (and on failure fail every queued task with the abort reason). */
  private advance(head: Task<unknown>): boolean {
    if (!head.step()) return false;
    this.queue.shift();
    if (head.failed) {
      this.failAll(head);
      this.flight.failed(head.error);
    }
    return true;
  }

  private failAll(head: Task<unknown>): void {
    for (const t of this.queue.splice(0)) t.fail(head.error);
  }

  private async drive(): Promise<void> {
    this.driving = true;
    const w = this.waiter;
    try {
      for (;;) {
        const head = this.queue[0];
        if (head === undefined) return;
        const v = w.ticket();
        if (this.advance(head)) continue;
        await w.waitAsync(v, head.waitMs());
      }
    } finally {
      this.driving = false;
    }
  }
}
