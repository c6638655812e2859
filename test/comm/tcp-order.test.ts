// Summation order over TCP with 3, 4 and 8 processes: non-integer data, bitwise-equal results on every rank, and
// rank order ((x0 + x1) + x2) + … on the direct (small) path; ring and zero-copy ring paths, sockets and relay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnProcesses } from '../../src/comm/index.js';
import { values } from './helpers.js';

/**
 * Lengths per path: direct exchange (≤ 64 KiB), ring with segments under the 64 KiB zero-copy size, ring with zero-copy
 * segments.
 */
const PATHS = { direct: 1001, ring: 40_001, zeroCopy: (1 << 18) + 3 } as const;

/** Rank r's input: a deterministic pseudo-random buffer with values of very different magnitudes (no exact sums). */
function input(rank: number, len: number): Float32Array {
  let x = (rank + 1) * 2654435761;
  return new Float32Array(len).map(() => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x / 2 ** 32 - 0.5) * 10 ** ((x >>> 8) % 7);
  });
}

const bitsOf = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** ((x0 + x1) + x2) + … in float32, element by element, in the given rank order. */
function ordered(xs: Float32Array[], order: number[]): Float32Array {
  const out = new Float32Array(xs[0]!.length);
  for (let i = 0; i < out.length; i++) {
    let acc = xs[order[0]!]![i]!;
    for (const q of order.slice(1)) acc = Math.fround(acc + xs[q]![i]!);
    out[i] = acc;
  }
  return out;
}

const body = async (
  pg: import('../../src/comm/index.js').ProcessGroup,
  args: string[],
): Promise<Record<string, number[]>> => {
  const lens = JSON.parse(args[0]!) as Record<string, number>;
  const out: Record<string, number[]> = {};
  for (const [path, len] of Object.entries(lens)) {
    let x = (pg.rank + 1) * 2654435761;
    const a = new Float32Array(len).map(() => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return (x / 2 ** 32 - 0.5) * 10 ** ((x >>> 8) % 7);
    });
    if (path === 'direct') pg.allReduceSync(a);
    else await pg.allReduce(a, 'sum', { tag: path });
    out[path] = Array.from(new Uint32Array(a.buffer));
  }
  return out;
};

for (const [n, relay] of [
  [3, false],
  [3, true],
  [4, false],
  [8, false],
] as const) {
  const how = relay ? 'relay (SYNCBN_TCP_DIRECT=0)' : 'direct sockets';
  test(
    `tcp order: ${n} processes over ${how} — every path gives every rank the same bits, the direct path in rank ` +
      `order`,
    async () => {
      const env: Record<string, string> = relay ? { SYNCBN_TCP_DIRECT: '0' } : {};
      const outs = await spawnProcesses(n, body, [JSON.stringify(PATHS)], {
        deadlineMs: 120_000,
        output: 'capture',
        env,
      });
      const got = values(outs);
      for (const path of Object.keys(PATHS)) {
        got.forEach((g, r) =>
          assert.deepEqual(g[path], got[0]![path], `${path}: rank ${r} has other bits than rank 0`),
        );
      }
      const xs = [...Array(n).keys()].map((r) => input(r, PATHS.direct));
      const rankOrder = [...Array(n).keys()];
      assert.deepEqual(got[0]!.direct, bitsOf(ordered(xs, rankOrder)), 'direct path: ((x0 + x1) + x2) + … in float32');
      // Negative control: a swapped pair of addends changes bits somewhere, so the check above has teeth.
      const swapped = [0, 2, 1, ...rankOrder.slice(3)];
      assert.notDeepEqual(got[0]!.direct, bitsOf(ordered(xs, swapped)));
      // The ring paths reduce each segment along one fixed path: not rank order, but within float32
      // rounding of the float64 sum (n additions of values up to 5e5: |error| ≤ n·ulp(max partial sum)).
      for (const path of ['ring', 'zeroCopy'] as const) {
        const ys = [...Array(n).keys()].map((r) => input(r, PATHS[path]));
        const vals = new Float32Array(new Uint32Array(got[0]![path]!).buffer);
        for (let i = 0; i < vals.length; i++) {
          let exact = 0;
          let mag = 0;
          for (const y of ys) {
            exact += y[i]!;
            mag += Math.abs(y[i]!);
          }
          if (Math.abs(vals[i]! - exact) > n * mag * 2 ** -23)
            assert.fail(`${path}[${i}] = ${vals[i]}, exact ${exact}`);
        }
      }
    },
  );
}
