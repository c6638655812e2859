// Collectives over the shared-memory transport: exact invariants for world sizes 1..8, sync/async/overlapped forms,
// subgroups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnThreads } from '../../src/comm/index.js';
import { invariants, values } from './helpers.js';

for (let n = 1; n <= 8; n++) {
  test(`threads: exact sum/max/min, broadcast from every root, variable allGather (n=${n})`, async () => {
    const lens = [0, 1, 7, 129, 1000, 37 * n + 1];
    if (n === 2 || n === 3 || n === 8) lens.push(2 ** 20); // ring path, non-divisible segments for n=3
    if (n === 5) lens.push(16411); // 64 KiB+ in float32: ring with a prime length
    const outs = await spawnThreads(n, invariants, [JSON.stringify(lens)], { deadlineMs: 60_000 });
    for (const bad of values(outs)) assert.deepEqual(bad, []);
  });
}

test('threads: results are bitwise identical on every rank and follow the fixed rank order', async () => {
  for (const [n, len] of [
    [3, 1001],
    [5, 40_000],
  ] as const) {
    const outs = await spawnThreads(
      n,
      async (pg, args) => {
        const len = Number(args[0]);
        // A deterministic pseudo-random buffer per rank with values of very different magnitudes.
        let x = (pg.rank + 1) * 2654435761;
        const a = new Float32Array(len).map(() => {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          return (x / 2 ** 32 - 0.5) * 10 ** ((x >>> 8) % 7);
        });
        await pg.allReduce(a);
        return Array.from(new Uint32Array(a.buffer));
      },
      [String(len)],
    );
    const bits = values(outs);
    for (const b of bits) assert.deepEqual(b, bits[0]);
    assert.equal(bits[0]!.length, len);
    if (n === 3) {
      // Small buffers are summed in rank order ((x0 + x1) + x2) in float32 on every rank.
      const inputs = [0, 1, 2].map((rank) => {
        let x = (rank + 1) * 2654435761;
        return new Float32Array(len).map(() => {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          return (x / 2 ** 32 - 0.5) * 10 ** ((x >>> 8) % 7);
        });
      });
      const want = new Float32Array(len).map((_, i) =>
        Math.fround(Math.fround(inputs[0]![i]! + inputs[1]![i]!) + inputs[2]![i]!),
      );
      assert.deepEqual(bits[0], Array.from(new Uint32Array(want.buffer)));
      // Negative control: another order gives different bits somewhere, so the check above has teeth.
      const other = new Float32Array(len).map((_, i) =>
        Math.fround(Math.fround(inputs[2]![i]! + inputs[1]![i]!) + inputs[0]![i]!),
      );
      assert.notDeepEqual(bits[0], Array.from(new Uint32Array(other.buffer)));
    }
  }
});

test(
  'threads: subgroups — members get a group in the given order, non-members get null, groups run side by ' + 'side',
  async () => {
    const outs = await spawnThreads(5, async (pg) => {
      const g = await pg.newGroup([4, 1, 3]);
      const h = pg.newGroupSync([0, 2]);
      const res: Record<string, unknown> = { inG: g !== null, inH: h !== null };
      if (g) {
        const a = new Float64Array(9).fill(pg.rank);
        await g.allReduce(a);
        res.g = [g.rank, g.size, [...g.worldRanks], a[8]];
        const parts = g.allGatherSync(new Float32Array([pg.rank]));
        res.gGather = parts.map((p) => p[0]);
        const b = new Float32Array(3).fill(g.rank === 2 ? 42 : 0);
        g.broadcastSync(b, 2);
        res.gB = b[0];
        const sub = await g.newGroup([1]);
        res.sub = sub === null ? null : [sub.rank, sub.size];
      }
      if (h) {
        const a = new Float32Array(200_000).fill(pg.rank + 1);
        h.allReduceSync(a, 'sum');
        res.h = [h.rank, a[199_999]];
      }
      const w = new Float32Array(4).fill(1);
      pg.allReduceSync(w);
      res.w = w[0];
      return res;
    });
    const v = values<Record<string, unknown>>(outs);
    assert.deepEqual(
      v.map((x) => [x.inG, x.inH]),
      [
        [false, true],
        [true, false],
        [false, true],
        [true, false],
        [true, false],
      ],
    );
    assert.deepEqual(v[4]!.g, [0, 3, [4, 1, 3], 8]);
    assert.deepEqual(v[1]!.g, [1, 3, [4, 1, 3], 8]);
    assert.deepEqual(v[3]!.g, [2, 3, [4, 1, 3], 8]);
    assert.deepEqual(v[1]!.gGather, [4, 1, 3]);
    assert.equal(v[4]!.gB, 42);
    assert.deepEqual(v[1]!.sub, [0, 1]);
    assert.equal(v[4]!.sub, null);
    assert.deepEqual(v[0]!.h, [0, 4]);
    assert.deepEqual(v[2]!.h, [1, 4]);
    for (const x of v) assert.equal(x.w, 5);
  },
);

test('threads: overlapped all-reduces (allReduceStart) complete in order with compute in between', async () => {
  const outs = await spawnThreads(3, async (pg) => {
    const bufs = [10, 70_000, 5, 300_000].map((len) => new Float32Array(len).fill(pg.rank + 1));
    const pending = bufs.map((b) => pg.allReduceStart(b));
    let acc = 0;
    for (let i = 0; i < 1e5; i++) acc += Math.sqrt(i); // "backward" keeps computing
    pending[1]!.waitSync();
    await pending[3]!.done;
    pending[0]!.waitSync();
    await pending[2]!.done;
    return [bufs.map((b) => [b[0], b[b.length - 1]]), acc > 0];
  });
  for (const v of values(outs))
    assert.deepEqual(v, [
      [
        [6, 6],
        [6, 6],
        [6, 6],
        [6, 6],
      ],
      true,
    ]);
});

{
  const RANDOM_LEN = 270_001; // float32: above SHARED_MIN_BYTES
  const body = async (
    pg: import('../../src/comm/index.js').ProcessGroup,
    args: string[],
  ): Promise<{ bad: string[]; bits: number[] }> => {
    const { allocF32, allocF64 } = (await import(args[0]!)) as {
      allocF32(n: number): Float32Array;
      allocF64(n: number): Float64Array;
    };
    const n = pg.size;
    const r = pg.rank;
    const bad: string[] = [];
    const plainRank = Number(args[1]); // this rank's buffers are plain arrays (−1: none)
    // Filled in place: TypedArray#map would return a plain array.
    const make = (
      C: typeof Float32Array | typeof Float64Array,
      len: number,
      f: (i: number) => number,
    ): Float32Array | Float64Array => {
      const a = r === plainRank ? new C(len) : C === Float32Array ? allocF32(len) : allocF64(len);
      for (let i = 0; i < len; i++) a[i] = f(i);
      return a;
    };
    for (const len of [131_071, 262_143, 262_145, 300_007]) {
      for (const C of [Float32Array, Float64Array]) {
        const s = make(C, len, (i) => r + (i % 5));
        pg.allReduceSync(s);
        const want = (n * (n - 1)) / 2;
        for (let i = 0; i < len; i++)
          if (s[i] !== want + n * (i % 5)) bad.push(`sum ${C.name} ${len} [${i}] = ${s[i]}`);
        const mx = make(C, len, (i) => (i % n === r ? 100 + r : r));
        pg.allReduceSync(mx, 'max');
        for (let i = 0; i < len; i++) if (mx[i] !== 100 + (i % n)) bad.push(`max ${C.name} ${len} [${i}] = ${mx[i]}`);
        const mn = make(C, len, (i) => (i % n === r ? -1 - r : r));
        pg.allReduceSync(mn, 'min');
        for (let i = 0; i < len; i++) if (mn[i] !== -1 - (i % n)) bad.push(`min ${C.name} ${len} [${i}] = ${mn[i]}`);
      }
    }
    // A subgroup of the odd ranks, reversed: group ranks map to other threads' heaps.
    const odd = [...Array(n).keys()].filter((q) => q % 2 === 1).reverse();
    const g = await pg.newGroup(odd);
    if (g !== null) {
      const a = make(Float32Array, 270_001, () => g.rank + 1);
      g.allReduceSync(a);
      const want = (g.size * (g.size + 1)) / 2;
      if (a.some((v) => v !== want)) bad.push(`subgroup sum ${a.find((v) => v !== want)} want ${want}`);
    }
    // Random values of mixed magnitudes: the bits, to compare across ranks and with rank order.
    let x = (r + 1) * 2654435761;
    const v = make(Float32Array, Number(args[2]), () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return (x / 2 ** 32 - 0.5) * 10 ** ((x >>> 8) % 7);
    });
    await pg.allReduce(v);
    return { bad: bad.slice(0, 5), bits: Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length)) };
  };
  const heap = new URL('../../src/kernels/wasm/heap.js', import.meta.url).href;
  const inputs = (n: number): Float32Array[] =>
    [...Array(n).keys()].map((rank) => {
      let x = (rank + 1) * 2654435761;
      return new Float32Array(RANDOM_LEN).map(() => {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        return (x / 2 ** 32 - 0.5) * 10 ** ((x >>> 8) % 7);
      });
    });
  const sumInOrder = (xs: Float32Array[], order: number[]): number[] => {
    const want = new Float32Array(RANDOM_LEN).map((_, i) =>
      order.reduce((acc, q, k) => (k === 0 ? xs[q]![i]! : Math.fround(acc + xs[q]![i]!)), 0),
    );
    return Array.from(new Uint32Array(want.buffer));
  };
  // Every world size 2–8 (the ring's coverage), and once with one rank's buffers outside its heap.
  for (const [n, plainRank] of [
    [2, -1],
    [3, -1],
    [4, -1],
    [5, -1],
    [6, -1],
    [7, -1],
    [8, -1],
    [3, 1],
  ] as const) {
    const what =
      plainRank < 0
        ? "reduced straight from the peers' heaps"
        : `the ring, since rank ${plainRank}'s buffers are not in its heap`;
    test(
      `threads: large heap buffers (≥ 1 MiB), n=${n}: ${what} — exact sum/max/min (float32/64, sizes across the ` +
        `threshold), a reversed subgroup, the same bits on every ` +
        `rank${plainRank < 0 ? ', rank order' : ''}`,
      async () => {
        const got = values(await spawnThreads(n, body, [heap, String(plainRank), String(RANDOM_LEN)]));
        for (const o of got) assert.deepEqual(o.bad, [], `n=${n}`);
        for (const o of got) assert.deepEqual(o.bits, got[0]!.bits, `n=${n}: every rank has the same bits`);
        if (plainRank >= 0) return;
        // Summed ((x0 + x1) + x2) + … in float32: the owner of each segment follows rank order.
        const xs = inputs(n);
        const order = [...Array(n).keys()];
        assert.deepEqual(got[0]!.bits, sumInOrder(xs, order), `n=${n}: rank order`);
        // Negative control: the reversed order (an owner reducing its peers backwards) gives other bits
        // (with 2 ranks a + b = b + a: nothing to catch).
        if (n >= 3)
          assert.notDeepEqual(got[0]!.bits, sumInOrder(xs, [...order].reverse()), `n=${n}: reversed order differs`);
      },
    );
  }
}

test(
  'threads: only the first copy of the library in a rank thread takes the heap the launcher shared; a second ' +
    'copy gets its own',
  async () => {
    const inst = new URL('../../src/kernels/wasm/instance.js', import.meta.url).href;
    const outs = await spawnThreads(
      2,
      async (_pg, args) => {
        type Inst = { heapIsShared: boolean; memory: WebAssembly.Memory };
        const first = (await import(args[0]!)) as Inst;
        const second = (await import(`${args[0]!}?second-copy`)) as Inst;
        return [first.heapIsShared, second.heapIsShared, first.memory !== second.memory];
      },
      [inst],
    );
    assert.deepEqual(values(outs), [
      [true, false, true],
      [true, false, true],
    ]);
  },
);
