// A one-thread stand-in for a ProcessGroup: plays rank `rank` while the other ranks' contributions are given up front.
import type { CollectiveOptions, CommArray, ProcessGroup, ReduceOp } from '../../src/comm/types.js';

export interface FakeCall {
  kind: string;
  tag: string | undefined;
  length: number;
}

/**
 * allGatherSync returns `others` with this rank's buffer at `rank`; allReduceSync sums this rank's
 * buffer with `others` (in rank order). Every call is recorded, so tests can count collectives.
 */
export function fakeGroup(
  rank: number,
  others: CommArray[],
  worldRanks?: number[],
): ProcessGroup & { calls: FakeCall[]; others: CommArray[] } {
  const size = others.length + 1;
  const calls: FakeCall[] = [];
  const group = {
    rank,
    size,
    worldRanks: worldRanks ?? Array.from({ length: size }, (_, i) => i),
    calls,
    others,
    allGatherSync(buf: CommArray, opts?: CollectiveOptions): CommArray[] {
      calls.push({ kind: 'allGather', tag: opts?.tag, length: buf.length });
      const out = [...group.others];
      out.splice(rank, 0, buf.slice());
      return out;
    },
    allReduceSync(buf: CommArray, op: ReduceOp = 'sum', opts?: CollectiveOptions): void {
      calls.push({ kind: 'allReduce', tag: opts?.tag, length: buf.length });
      if (op !== 'sum') throw new Error('fake group sums only');
      const all = [...group.others];
      all.splice(rank, 0, buf.slice());
      buf.fill(0);
      for (const a of all) for (let i = 0; i < buf.length; i++) buf[i] += a[i]!;
    },
  };
  return group as unknown as ProcessGroup & { calls: FakeCall[]; others: CommArray[] };
}
