// Multi-host over TCP: three network namespaces on a bridge (10.231.x.y, never leaving this machine); cutting one link
// fails the others fast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnProcesses } from '../../src/comm/index.js';
import { values } from './helpers.js';
import { Hosts, ip, netnsSkipReason } from './netns-helpers.js';

const N = 3;
const hosts = new Hosts(`sb${process.pid % 100000}`, N, (r) => `10.231.${process.pid % 250}.${r + 1}`);
const nsOf = (r: number): string => hosts.ns(r);
const addrOf = hosts.addrOf;
const setup = (): void => hosts.setup();
const teardown = (): void => hosts.teardown();

const skip = netnsSkipReason();

test(
  'netns: ranks in three network namespaces meet over TCP and agree; cutting one link fails every rank fast, naming ' +
    'the lost rank',
  { skip: skip ?? false, timeout: 90_000 },
  async () => {
    teardown();
    try {
      setup();
      const opts = {
        command: (r: number) => ['ip', 'netns', 'exec', nsOf(r)],
        masterAddr: addrOf(0),
        deadlineMs: 40_000,
        output: 'capture' as const,
        env: { SYNCBN_PEER_TIMEOUT_MS: '1000' },
      };
      // 1. Exact results across "hosts" (each rank listens on its namespace's address, found via the master).
      const ok = await spawnProcesses(
        N,
        async (pg) => {
          const a = new Float32Array(300_000).fill(pg.rank);
          pg.allReduceSync(a);
          const b = new Float64Array(129).fill(pg.rank);
          await pg.allReduce(b, 'max');
          const parts = pg.allGatherSync(new Float32Array(pg.rank + 1).fill(pg.rank));
          return [a[0], a[299_999], b[128], parts.map((p) => p.length)];
        },
        [],
        opts,
      );
      for (const v of values(ok)) assert.deepEqual(v, [3, 3, 2, [1, 2, 3]]);

      // 2. Cut rank 2's cable mid-run: the others must fail within 2 s of the cut, naming rank 2.
      let cutAt = 0;
      const run = spawnProcesses(
        N,
        async (pg) => {
          const a = new Float32Array(50_000);
          for (let i = 0; ; i++) {
            try {
              if (i % 2) pg.allReduceSync(a);
              else await pg.allReduce(new Float32Array(7));
            } catch (e) {
              return {
                at: Date.now(),
                iters: i,
                name: (e as Error).name,
                message: (e as Error).message,
                dead: (e as { deadRank?: number }).deadRank,
              };
            }
            if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1)); // let the event loop breathe
          }
        },
        [],
        opts,
      );
      await new Promise((r) => setTimeout(r, 2500));
      cutAt = Date.now();
      ip('-n', hosts.ns('br'), 'link', 'set', hosts.cable(2), 'down');
      const outs = await run;
      const vs = values(outs) as { at: number; iters: number; name: string; message: string; dead: number }[];
      for (const r of [0, 1]) {
        const v = vs[r]!;
        assert.ok(v.iters > 10, `rank ${r} ran ${v.iters} collectives before the cut`);
        assert.equal(v.name, 'PeerDiedError', v.message);
        assert.equal(v.dead, 2);
        assert.match(v.message, /^rank 2 died \(no data or heartbeat for \d+ ms\)$/);
        assert.ok(v.at - cutAt < 2000, `rank ${r} failed ${v.at - cutAt} ms after the cut`);
      }
      assert.equal(vs[2]!.name, 'PeerDiedError'); // the cut-off rank loses everyone
    } finally {
      teardown();
    }
  },
);
