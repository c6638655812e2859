// Runs one rank's collectives in call order, blocking (Atomics.wait) or on the event loop (Atomics.waitAsync).
import { CommError } from '../errors.js';
import { FlightRecorder } from './flight.js';
import { describeTask, type TaskCtx } from './ops.js';
import type { Transport } from './transport.js';

export class Task<T = unknown> {
  started = false;
  settled = false;
  value: T | undefined;
  error: unknown;
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
      } else this.p = this.error !== undefined ? Promise.reject(this.error) : Promise.resolve(this.value as T);
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
      const err = e instanceof CommError ? e : new CommError(`${describeTask(this.ctx)} failed: ${String(e)}`, 'E_COMM', { cause: e });
      this.fail(this.ctx.t.abort(err));
      return true;
    }
  }

  fail(e: unknown): void {
    if (this.settled) return;
    this.settled = true;
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
    if (this.error !== undefined) throw this.error;
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
 * Naps of a pumped transport's waiting thread: from 50 µs, doubling while nothing arrives, up to
 * 1 ms — the most a collective can lose to a peer that was late, against ~1000 idle wake-ups a second.
 */
const NAP_MIN_MS = 0.05;
const NAP_MAX_MS = 1;

/** Atomics.waitAsync (Node ≥ 16; typed in lib es2024, newer than this project's lib). */
const waitAsyncFn = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number, ms: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

export class Engine {
  private readonly queue: Task<unknown>[] = [];
  private pumping = false;
  private readonly i32: Int32Array;
  private readonly db: number;
  private readonly sleep: number;
  /** The transport must be pumped (see Transport.pump): waits are naps, not sleeps until a doorbell. */
  private readonly pumped: boolean;
  private nap = NAP_MIN_MS;
  /** This rank's last collectives, for the error of a failed one (see flight.ts). */
  readonly flight: FlightRecorder;

  constructor(readonly t: Transport) {
    this.flight = new FlightRecorder(t.rank, t.size, t.kind);
    this.spinNow = t.spinUs;
    this.pumped = typeof t.pump === 'function';
    this.i32 = t.ctl.i32;
    this.db = t.ctl.doorbellIndex(t.slot);
    this.sleep = t.ctl.sleepIndex(t.slot);
  }

  submit<T>(task: Task<T>): Task<T> {
    task.flight = this.flight;
    task.fid = this.flight.add(task.ctx);
    this.queue.push(task as Task<unknown>);
    return task;
  }

  /** Block until `task` settles (driving every earlier task first, in order). */
  runSync<T>(task: Task<T>): T {
    while (!task.settled) {
      const v = Atomics.load(this.i32, this.db);
      const head = this.queue[0];
      if (head === undefined) break;
      if (this.advance(head)) continue;
      this.waitSync(v, head.waitMs());
    }
    if (this.pumping) this.kick(); // the async pump may sleep on a doorbell nobody will ring
    return task.result();
  }

  /** Resolve when `task` settles, progressing the queue on the event loop. */
  runAsync<T>(task: Task<T>): Promise<T> {
    if (!this.pumping) void this.pump();
    return task.promise;
  }

  /** Non-blocking progress of queued work (e.g. right after starting an overlapped all-reduce). */
  poll(): void {
    if (this.pumped) this.t.pump!();
    for (;;) {
      const head = this.queue[0];
      if (head === undefined || !this.advance(head)) return;
    }
  }

  /** Step the head task; on settle pop it (and on failure fail every queued task with the abort reason). */
  private advance(head: Task<unknown>): boolean {
    if (!head.step()) return false;
    this.queue.shift();
    if (head.error !== undefined) {
      this.failAll(head);
      this.flight.failed(head.error);
    }
    return true;
  }

  private failAll(head: Task<unknown>): void {
    for (const t of this.queue.splice(0)) t.fail(head.error);
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (;;) {
        const head = this.queue[0];
        if (head === undefined) return;
        const v = Atomics.load(this.i32, this.db);
        if (this.advance(head)) continue;
        await this.waitAsync(v, head.waitMs());
      }
    } finally {
      this.pumping = false;
    }
  }

  private kick(): void {
    Atomics.add(this.i32, this.db, 1);
    Atomics.notify(this.i32, this.db);
  }

  /**
   * Adaptive, time-bounded spinning (budget in µs; the transport's `spinUs` is the cap). The budget
   * doubles when a spin catches the wake-up and halves when it does not, but never below cap/16:
   * a futex sleep costs a wake-up (on a VM, rescheduling a halted vCPU: hundreds of µs), and with a
   * core per rank a short skew between ranks is the common case, so collapsing to "always sleep"
   * after a few long waits made every later collective pay that wake-up. Time, not iterations: an
   * Atomics.load costs 1–15 ns depending on the machine. When ranks outnumber cores the transport's
   * cap is 0 and a waiting rank sleeps at once (spinning would only steal time from its peer).
   */
  private spinNow = 0;

  private spin(v: number): boolean {
    const budget = this.spinNow;
    const pumped = this.pumped;
    if (budget <= 0) return pumped && this.pumpNow();
    const i32 = this.i32;
    const db = this.db;
    const end = performance.now() + budget / 1000;
    do {
      if (pumped && this.pumpNow()) {
        this.spinNow = Math.min(this.t.spinUs, budget * 2);
        return true;
      }
      for (let k = 0; k < 64; k++) {
        if (Atomics.load(i32, db) !== v) {
          this.spinNow = Math.min(this.t.spinUs, budget * 2);
          return true;
        }
      }
    } while (performance.now() < end);
    this.spinNow = Math.max(this.t.spinUs / 16, budget / 2);
    return false;
  }

  private pumpNow(): boolean {
    if (!this.t.pump!()) return false;
    this.nap = NAP_MIN_MS;
    return true;
  }

  /** How long to sleep: until `ms` for a doorbell transport; a nap that doubles while nothing arrives for a pumped one. */
  private sleepMs(ms: number): number {
    if (!this.pumped) return ms;
    const nap = this.nap;
    this.nap = Math.min(NAP_MAX_MS, nap * 2);
    return Math.min(ms, nap);
  }

  private waitSync(v: number, waitMs: number): void {
    const i32 = this.i32;
    if (this.spin(v)) return;
    const ms = this.sleepMs(waitMs);
    Atomics.add(i32, this.sleep, 1);
    Atomics.wait(i32, this.db, v, ms);
    Atomics.sub(i32, this.sleep, 1);
  }

  private async waitAsync(v: number, waitMs: number): Promise<void> {
    const i32 = this.i32;
    if (this.spin(v)) return;
    const ms = this.sleepMs(waitMs);
    Atomics.add(i32, this.sleep, 1);
    try {
      const r = waitAsyncFn(i32, this.db, v, ms);
      if (r.async) {
        // Node neither keeps the event loop alive for a pending waitAsync nor runs its timeout on a
        // ref'd timer: with only that pending, the loop can run dry first, and the process then
        // exits ('beforeExit' closes the group: peers saw this rank leave mid-collective, about
        // once per thousand 1 ms naps). A ref'd timer of our own ends the wait at the latest.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([r.value, new Promise<void>((res) => (timer = setTimeout(res, ms + 1)))]);
        clearTimeout(timer);
      }
    } finally {
      Atomics.sub(i32, this.sleep, 1);
    }
  }
}
