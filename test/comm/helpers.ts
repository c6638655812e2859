// Shared by the comm tests: the exact-invariant rank body (run in every rank) and outcome unpacking.
import assert from 'node:assert/strict';
import type { RankOutcome } from '../../src/comm/index.js';

export function values<T>(outs: RankOutcome<T>[]): T[] {
  const bad = outs.filter((o) => !o.ok);
  if (bad.length > 0) {
    // Every failing rank, not just the first: the first in rank order is often only a consequence.
    const lines = bad.map((o) =>
      o.ok
        ? ''
        : `rank ${o.rank} failed: ${o.error.name}: ` +
          `${o.error.message}\n${o.error.stack ?? ''}${o.stderr ? `\nstderr: ${o.stderr.slice(-2000)}` : ''}`,
    );
    assert.fail(lines.join('\n---\n'));
  }
  return outs.map((o) => (o as { value: T }).value);
}

/** The invariant body, run inside every rank (stringified: self-contained). Returns failures as strings. */
export const invariants = async (
  pg: import('../../src/comm/index.js').ProcessGroup,
  args: string[],
): Promise<string[]> => {
  const lens = JSON.parse(args[0]!) as number[];
  const n = pg.size;
  const r = pg.rank;
  const bad: string[] = [];
  const check = (what: string, a: ArrayLike<number>, want: (i: number) => number): void => {
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== want(i)) {
        bad.push(`${what}: index ${i} = ${a[i]}, want ${want(i)}`);
        return;
      }
    }
  };
  let k = 0;
  for (const len of lens) {
    for (const Ctor of [Float32Array, Float64Array]) {
      const sync = k++ % 2 === 0;
      const s = new Ctor(len).fill(r);
      if (sync) pg.allReduceSync(s);
      else await pg.allReduce(s, 'sum', { tag: `sum${len}` });
      check(`sum ${Ctor.name} len ${len}`, s, () => (n * (n - 1)) / 2);
      if (s.length !== len) bad.push(`length changed ${s.length}`);
      const mx = new Ctor(len).map((_, i) => (i % n === r ? 100 + r : r));
      if (sync) await pg.allReduce(mx, 'max');
      else pg.allReduceSync(mx, 'max');
      check(`max ${Ctor.name} len ${len}`, mx, (i) => 100 + (i % n));
      const mn = new Ctor(len).map((_, i) => (i % n === r ? -1 - r : r));
      pg.allReduceStart(mn, 'min').waitSync();
      check(`min ${Ctor.name} len ${len}`, mn, (i) => -1 - (i % n));
    }
    // broadcast from every root
    for (let root = 0; root < n; root++) {
      const b = new Float32Array(len).map((_, i) => (r === root ? i + root : -7));
      if (root % 2) pg.broadcastSync(b, root);
      else await pg.broadcast(b, root);
      check(`broadcast root ${root} len ${len}`, b, (i) => Math.fround(i + root));
    }
  }
  // allGather, variable lengths (rank r contributes (r * 5 + lens[0]) % 11 elements, some zero)
  for (const Ctor of [Float32Array, Float64Array]) {
    const lenOf = (q: number): number => (q * 5 + (lens[1] ?? 0)) % 11;
    const mine = new Ctor(lenOf(r)).map((_, i) => r * 1000 + i);
    const all = r % 2 ? pg.allGatherSync(mine, { tag: 'gather' }) : await pg.allGather(mine, { tag: 'gather' });
    if (all.length !== n) bad.push(`allGather returned ${all.length} parts`);
    all.forEach((part, q) => {
      if (!(part instanceof Ctor)) bad.push(`allGather part ${q} is ${part.constructor.name}`);
      if (part.length !== lenOf(q)) bad.push(`allGather part ${q} length ${part.length}, want ${lenOf(q)}`);
      check(`allGather part ${q}`, part, (i) => q * 1000 + i);
    });
  }
  await pg.barrier();
  pg.barrierSync();
  return bad;
};
