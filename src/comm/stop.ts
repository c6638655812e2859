// Ending a launched group: after one rank fails (or the launcher is told to stop) no rank may outlive it.
//
// A healthy peer of a failed rank ends on its own within the peer timeout (1.5 s by default: a silent
// peer is declared dead then), and its own error names the failure best, so the others first get
// `drainMs` to end by themselves. Whoever is still running then (a SIGSTOPped process, a rank stuck
// in compute, a script that ignores errors) is sent SIGTERM, plus SIGCONT so that a stopped process
// acts on it, and SIGKILL `graceMs` later. Threads are terminated (there is nothing gentler).
import { readFileSync } from '#platform';
import { UsageError, describe } from '../errors.js';

/** How the launcher ends the other ranks once one has failed. */
export interface StopPolicy {
  /** How long the others may take to end on their own after the first failure (ms). Default 3000. */
  drainMs?: number;
  /** Between SIGTERM and SIGKILL (ms). Default 3000. */
  graceMs?: number;
  /** Processes, Linux: a rank stopped (SIGSTOP, SIGTSTP) this long counts as failed (ms). Default 2000. */
  stoppedMs?: number;
}

export const DEFAULT_DRAIN_MS = 3000;
export const DEFAULT_GRACE_MS = 3000;
export const DEFAULT_STOPPED_MS = 2000;

/** One launched rank as the stopper sees it. */
export interface Stoppable {
  running(): boolean;
  /** Ask it to end (SIGTERM + SIGCONT; terminate() for a thread). */
  terminate(): void;
  /** End it now (SIGKILL); a no-op where terminate() already is final. */
  kill(): void;
}

export function checkStopPolicy(where: string, p: StopPolicy | undefined): Required<StopPolicy> {
  const ms = (name: keyof StopPolicy, dflt: number): number => {
    const v = p?.[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new UsageError(`${where}: ${name} must be a finite number of milliseconds ≥ 0, received ${describe(v)}`);
    }
    return v;
  };
  return {
    drainMs: ms('drainMs', DEFAULT_DRAIN_MS),
    graceMs: ms('graceMs', DEFAULT_GRACE_MS),
    stoppedMs: ms('stoppedMs', DEFAULT_STOPPED_MS),
  };
}

export class GroupStopper {
  /** Ranks this stopper ended (their outcome is a consequence, not a cause). */
  readonly ended = new Set<number>();
  /** Why the stop began, for the ended ranks' outcomes. */
  reason = '';
  private readonly timers: NodeJS.Timeout[] = [];
  private draining = false;
  private stopping = false;

  constructor(
    private readonly ranks: readonly Stoppable[],
    private readonly policy: Required<StopPolicy>,
  ) {}

  /** A rank failed: the others get `drainMs` to end on their own, then are stopped. */
  rankFailed(rank: number): void {
    if (this.draining || this.stopping) return;
    this.draining = true;
    const why = `still running ${this.policy.drainMs} ms after rank ${rank} failed`;
    this.after(this.policy.drainMs, () => this.stop(why));
  }

  /** Stop every running rank now: terminate, then kill those left after `graceMs`. */
  stop(why: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.reason = why;
    this.ranks.forEach((h, r) => {
      if (!h.running()) return;
      this.ended.add(r);
      h.terminate();
    });
    this.after(this.policy.graceMs, () => this.ranks.forEach((h) => h.running() && h.kill()));
  }

  /** Every rank has ended: cancel pending steps. */
  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.length = 0;
  }

  private after(ms: number, fn: () => void): void {
    this.timers.push(setTimeout(fn, ms));
  }
}

/** Linux: a process's state letter from /proc (T: stopped), or null where there is none. */
function procState(pid: number): string | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s[s.lastIndexOf(')') + 2] ?? null;
  } catch {
    return null;
  }
}

/**
 * Watch rank processes for being stopped. A stopped rank is silent; once the group has formed its
 * peers notice within the peer timeout, but during the rendezvous nobody does (rank 0 waits its full
 * rendezvous timeout, 60 s by default). A rank stopped for `stoppedMs` is reported once through
 * `onStopped`. Linux only (reads /proc); elsewhere it never reports. Returns the disposer.
 */
export function watchStopped(
  pids: () => (number | undefined)[],
  stoppedMs: number,
  onStopped: (rank: number) => void,
): () => void {
  const since = new Map<number, number>();
  const reported = new Set<number>();
  const timer = setInterval(
    () => {
      const now = Date.now();
      pids().forEach((pid, r) => {
        if (pid === undefined || reported.has(r)) return;
        if (procState(pid) !== 'T') return void since.delete(r);
        const t = since.get(r) ?? now;
        since.set(r, t);
        if (now - t >= stoppedMs) {
          reported.add(r);
          onStopped(r);
        }
      });
    },
    Math.min(250, Math.max(10, stoppedMs / 4)),
  );
  timer.unref();
  return () => clearInterval(timer);
}
