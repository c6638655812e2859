// How a rank's thread waits for its collectives: a doorbell, a bounded spin, and the pump of a self-moving transport.
import type { Control } from './control.js';

/**
 * Naps of a pumped transport's waiting thread: from 50 µs, doubling while nothing arrives, up to
 * 1 ms — the most a collective can lose to a peer that was late, against ~1000 idle wake-ups a second.
 */
const NAP_MIN_MS = 0.05;
const NAP_MAX_MS = 1;

/** Atomics.waitAsync (Node ≥ 16; typed in lib es2024, newer than this project's lib). */
const waitAsyncFn = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      i: number,
      v: number,
      ms: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

/**
 * The one way a rank's engine waits. Why a separate object: the engine must know neither where a
 * transport keeps its control words nor whether its bytes move by themselves, and the waiting policy
 * (spin budget, naps) is per thread state that no algorithm should see.
 *
 * Contract: read `ticket()` BEFORE looking for work, then, if nothing could move, call
 * `waitSync`/`waitAsync` with that ticket. Whoever publishes bytes for this rank, stores an abort
 * or changes a peer's state bumps the doorbell, so a wait returns as soon as the doorbell differs
 * from the ticket (no lost wake-up), or after the given time. A transport with a `pump` (TCP with
 * direct sockets: no thread rings the doorbell when bytes arrive) is pumped while spinning and
 * sleeps only in short naps between pumps. One Waiter per transport; used by one thread only.
 */
export class Waiter {
  private readonly i32: Int32Array;
  private readonly db: number;
  private readonly sleeping: number;
  private readonly pumped: boolean;
  private nap = NAP_MIN_MS;
  /** The spin budget now, µs (see spin()). */
  private spinNow: number;

  constructor(
    ctl: Control,
    slot: number,
    /** Longest spin before sleeping, µs (latency vs. stealing a core from a peer); 0 = always sleep. */
    readonly spinCapUs: number,
    /**
     * Move what can move without blocking; true if anything did. Null when other threads ring the
     * doorbell for every byte that arrives.
     */
    private readonly pump: (() => boolean) | null,
  ) {
    this.i32 = ctl.i32;
    this.db = ctl.doorbellIndex(slot);
    this.sleeping = ctl.sleepIndex(slot);
    this.pumped = pump !== null;
    this.spinNow = spinCapUs;
  }

  /** The doorbell's count now: read it before looking for work, and wait with it. */
  ticket(): number {
    return Atomics.load(this.i32, this.db);
  }

  /** Non-blocking progress of a pumped transport's bytes (nothing for a doorbell transport). */
  poll(): void {
    if (this.pumped) this.pump!();
  }

  /** Ring this thread's own doorbell: ends a wait of this thread's other driver (the async one). */
  wake(): void {
    Atomics.add(this.i32, this.db, 1);
    Atomics.notify(this.i32, this.db);
  }

  /** Block until the doorbell moves past `ticket`, bytes were pumped, or about `waitMs` passed. */
  waitSync(ticket: number, waitMs: number): void {
    const i32 = this.i32;
    if (this.spin(ticket)) return;
    const ms = this.sleepMs(waitMs);
    Atomics.add(i32, this.sleeping, 1);
    Atomics.wait(i32, this.db, ticket, ms);
    Atomics.sub(i32, this.sleeping, 1);
  }

  /** waitSync on the event loop (Atomics.waitAsync). */
  async waitAsync(ticket: number, waitMs: number): Promise<void> {
    const i32 = this.i32;
    if (this.spin(ticket)) return;
    const ms = this.sleepMs(waitMs);
    Atomics.add(i32, this.sleeping, 1);
    try {
      const r = waitAsyncFn(i32, this.db, ticket, ms);
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
      Atomics.sub(i32, this.sleeping, 1);
    }
  }

  /**
   * Adaptive, time-bounded spinning (budget in µs; `spinCapUs` is the cap). The budget doubles when
   * a spin catches the wake-up and halves when it does not, but never below cap/16: a futex sleep
   * costs a wake-up (on a VM, rescheduling a halted vCPU: hundreds of µs), and with a core per rank
   * a short skew between ranks is the common case, so collapsing to "always sleep" after a few long
   * waits made every later collective pay that wake-up. Time, not iterations: an Atomics.load costs
   * 1–15 ns depending on the machine. When ranks outnumber cores the cap is 0 and a waiting rank
   * sleeps at once (spinning would only steal time from its peer).
   */
  private spin(v: number): boolean {
    const budget = this.spinNow;
    const pumped = this.pumped;
    if (budget <= 0) return pumped && this.pumpNow();
    const i32 = this.i32;
    const db = this.db;
    const end = performance.now() + budget / 1000;
    do {
      if (pumped && this.pumpNow()) {
        this.spinNow = Math.min(this.spinCapUs, budget * 2);
        return true;
      }
      for (let k = 0; k < 64; k++) {
        if (Atomics.load(i32, db) !== v) {
          this.spinNow = Math.min(this.spinCapUs, budget * 2);
          return true;
        }
      }
    } while (performance.now() < end);
    this.spinNow = Math.max(this.spinCapUs / 16, budget / 2);
    return false;
  }

  private pumpNow(): boolean {
    if (!this.pump!()) return false;
    this.nap = NAP_MIN_MS;
    return true;
  }

  /** How long to sleep: until `ms` for a doorbell transport; for a pumped one, a nap that doubles while idle. */
  private sleepMs(ms: number): number {
    if (!this.pumped) return ms;
    const nap = this.nap;
    this.nap = Math.min(NAP_MAX_MS, nap * 2);
    return Math.min(ms, nap);
  }
}
