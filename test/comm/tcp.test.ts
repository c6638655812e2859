// Collectives over TCP between processes: exact invariants for world sizes 1..4, dead and silent ranks, timeouts,
// mismatches.
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnProcesses, rootCause, type RankOutcome } from '../../src/comm/index.js';
import { invariants, values } from './helpers.js';

for (let n = 1; n <= 4; n++) {
  test(`tcp: exact sum/max/min, broadcast from every root, variable allGather (n=${n} processes)`, async () => {
    const lens = [0, 1, 7, 129, 1000, 37 * n + 1];
    if (n === 2 || n === 3) lens.push(2 ** 20);
    const outs = await spawnProcesses(n, invariants, [JSON.stringify(lens)], { deadlineMs: 90_000, output: 'capture' });
    for (const bad of values(outs)) assert.deepEqual(bad, []);
  });
}

test(
  'tcp data paths: sockets read by the rank thread by default, the comm worker relay with SYNCBN_TCP_DIRECT=0, ' +
    'and a mix; exact invariants either way',
  async () => {
    // Lengths straddle the zero-copy threshold (64 KiB), with payloads that end off an 8-byte unit.
    const lens = [0, 1, 129, 16_383, 16_385, (1 << 18) + 1];
    const configs: { name: string; rankEnv: (r: number) => Record<string, string>; want: string[][] }[] = [
      {
        name: 'default',
        rankEnv: () => ({}),
        want: [
          ['self', 'socket', 'socket'],
          ['socket', 'self', 'socket'],
          ['socket', 'socket', 'self'],
        ],
      },
      {
        name: 'all relayed',
        rankEnv: () => ({ SYNCBN_TCP_DIRECT: '0' }),
        want: [
          ['self', 'relay', 'relay'],
          ['relay', 'self', 'relay'],
          ['relay', 'relay', 'self'],
        ],
      },
      {
        name: 'rank 1 relayed',
        rankEnv: (r): Record<string, string> => (r === 1 ? { SYNCBN_TCP_DIRECT: '0' } : {}),
        want: [
          ['self', 'relay', 'socket'],
          ['relay', 'self', 'relay'],
          ['socket', 'relay', 'self'],
        ],
      },
    ];
    for (const c of configs) {
      const outs = await spawnProcesses(
        3,
        async (pg, args) => ({ links: pg.links, bad: await (await import(args[1]!)).invariants(pg, [args[0]!]) }),
        [JSON.stringify(lens), new URL('./helpers.js', import.meta.url).href],
        { deadlineMs: 90_000, output: 'capture', rankEnv: c.rankEnv },
      );
      const got = values(outs) as { links: string[]; bad: string[] }[];
      assert.deepEqual(
        got.map((g) => g.links),
        c.want,
        c.name,
      );
      for (const g of got) assert.deepEqual(g.bad, [], c.name);
    }
  },
);

test(
  'tcp: a root that broadcasts, closes and exits before the receiver reads still delivers every byte (its ' +
    'goodbye overtakes its data)',
  async () => {
    const outs = await spawnProcesses(
      2,
      async (pg) => {
        const n = 1 << 17; // 512 KiB: fits the socket buffers, so the root finishes without the receiver
        const a = new Float32Array(n).map((_, i) => (pg.rank === 0 ? i * 0.5 : -1));
        if (pg.rank === 1) {
          const until = Date.now() + 500;
          while (Date.now() < until); // not reading: the root's goodbye arrives first
        }
        pg.broadcastSync(a, 0);
        if (pg.rank === 0) await pg.close();
        for (let i = 0; i < n; i++) if (a[i] !== i * 0.5) return `index ${i} = ${a[i]}`;
        return 'ok';
      },
      [],
      { deadlineMs: 30_000, output: 'capture' },
    );
    assert.deepEqual(values(outs), ['ok', 'ok']);
  },
);

test(
  'tcp: async collectives that wait on a slow peer through hundreds of short naps keep the process alive until ' +
    'they complete',
  async () => {
    // Regression: a pending Atomics.waitAsync does not keep Node's event loop alive, and its timeout
    // runs on an unref'd timer; with only such a wait pending the loop could run dry, 'beforeExit'
    // closed the group, and the peers saw this rank leave mid-collective (seen under CPU load, about
    // once in ten full test runs). Without any keep-alive this test fails at the first nap.
    const outs = await spawnProcesses(
      2,
      async (pg) => {
        const a = new Float32Array(64);
        for (let i = 0; i < 300; i++) {
          if (pg.rank === 1) {
            const until = performance.now() + 3 + (i % 7);
            while (performance.now() < until); // rank 0 waits, napping
          }
          a.fill(pg.rank + 1);
          await pg.allReduce(a);
          if (a[0] !== 3) return `iteration ${i}: ${a[0]}`;
        }
        return 'ok';
      },
      [],
      { deadlineMs: 30_000, output: 'capture' },
    );
    assert.deepEqual(values(outs), ['ok', 'ok']);
  },
);

function errs(outs: RankOutcome[]): { name: string; message: string; deadRank?: number; missingRanks?: number[] }[] {
  return outs.map((o) => (o.ok ? { name: 'ok', message: JSON.stringify(o.value) } : o.error));
}

test(
  'tcp: a process that dies at a random point fails every other rank fast with PeerDiedError naming ' + 'it',
  async () => {
    const t0 = performance.now();
    const outs = await spawnProcesses(
      3,
      async (pg, args) => {
        const stopAt = Number(args[0]);
        const big = new Float32Array(200_000);
        for (let i = 0; i < 30; i++) {
          if (pg.rank === 1 && i === stopAt) {
            if (i % 2) pg.allReduceStart(big); // some of our bytes are on the wire
            process.exit(7);
          }
          if (i % 2) pg.allReduceSync(big);
          else await pg.allReduce(new Float32Array(3), 'max');
        }
        return 'survived';
      },
      [String(Math.floor(Math.random() * 12))],
      { deadlineMs: 30_000, output: 'capture' },
    );
    const es = errs(outs);
    assert.match(es[1]!.message, /exited with code 7/);
    for (const r of [0, 2]) {
      assert.equal(es[r]!.name, 'PeerDiedError', es[r]!.message);
      assert.equal(es[r]!.deadRank, 1);
      assert.match(es[r]!.message, /^rank 1 died \(connection closed( \((ECONNRESET|EPIPE)\))?\)$/);
    }
    assert.ok(performance.now() - t0 < 15_000);
    assert.equal(rootCause(outs)!.rank, 1);
  },
);

test('tcp: a rank that goes silent (SIGSTOP: sockets open, no heartbeats) is declared dead by the others', async () => {
  const t0 = performance.now();
  const outs = await spawnProcesses(
    3,
    async (pg) => {
      await pg.barrier();
      if (pg.rank === 2) process.kill(process.pid, 'SIGSTOP');
      const t = performance.now();
      try {
        pg.allReduceSync(new Float32Array(10));
      } catch (e) {
        return { name: (e as Error).name, message: (e as Error).message, ms: performance.now() - t };
      }
      return 'no error';
    },
    [],
    { deadlineMs: 12_000, output: 'capture', env: { SYNCBN_PEER_TIMEOUT_MS: '1000' } },
  );
  const v = outs.slice(0, 2).map((o) => (o.ok ? o.value : o.error)) as { name: string; message: string; ms: number }[];
  for (const x of v) {
    assert.equal(x.name, 'PeerDiedError');
    assert.match(x.message, /rank 2 died \(no data or heartbeat for \d+ ms\)/);
    assert.ok(x.ms < 2000, `detected after ${x.ms} ms`);
  }
  assert.ok(!outs[2]!.ok); // killed by the deadline
  assert.ok(performance.now() - t0 < 20_000);
});

test(
  'tcp: a receiver that falls behind (its inbox full, the socket paused) still gets every byte in order; direct ' +
    'sockets, and the relay with both polling settings',
  async () => {
    for (const env of [
      {} as Record<string, string>,
      { SYNCBN_TCP_DIRECT: '0', SYNCBN_TCP_POLL_US: '0' },
      { SYNCBN_TCP_DIRECT: '0', SYNCBN_TCP_POLL_US: '1000' },
    ]) {
      const outs = await spawnProcesses(
        2,
        async (pg) => {
          // 10M float64 = 80 MB: far more than the inbox ring and the kernel's socket buffers hold.
          const n = 10_000_000;
          const a = new Float64Array(n);
          if (pg.rank === 0) for (let i = 0; i < n; i++) a[i] = (i % 9973) + i / n;
          else {
            const until = Date.now() + 600; // busy: not reading while rank 0 sends
            while (Date.now() < until);
          }
          pg.broadcastSync(a, 0);
          for (let i = 0; i < n; i++) if (a[i] !== (i % 9973) + i / n) return `index ${i} = ${a[i]}`;
          const s = new Float32Array(129).fill(pg.rank + 1);
          pg.allReduceSync(s);
          return s.every((v) => v === 3) ? 'ok' : `allReduce after: ${s[0]}`;
        },
        [],
        { deadlineMs: 60_000, output: 'capture', env },
      );
      assert.deepEqual(values(outs), ['ok', 'ok'], JSON.stringify(env));
    }
  },
);

test('tcp: timeout names the rank that never arrived (asked over the wire); mismatch shows both sides', async () => {
  const outs = await spawnProcesses(
    3,
    async (pg) => {
      await pg.allReduce(new Float32Array(2));
      if (pg.rank === 0) await new Promise((r) => setTimeout(r, 1200));
      try {
        pg.allReduceSync(new Float32Array(2), 'sum', { tag: 'bn1', timeoutMs: 300 });
      } catch (e) {
        return [(e as Error).name, (e as Error).message];
      }
      return 'no error';
    },
    [],
    { deadlineMs: 30_000, output: 'capture' },
  );
  for (const v of values(outs))
    assert.deepEqual(v, ['CommTimeoutError', 'allReduce #2 (tag "bn1") timed out after 300 ms: rank 0 never arrived']);
  const mm = await spawnProcesses(
    2,
    async (pg) => {
      pg.allReduceSync(new Float64Array(pg.rank === 0 ? 129 : 130), 'sum', { tag: 'layer1.bn' });
    },
    [],
    { deadlineMs: 30_000, output: 'capture' },
  );
  for (const e of errs(mm)) {
    assert.equal(e.name, 'CollectiveMismatchError');
    assert.equal(
      e.message,
      'allReduce #1 mismatch: rank 0 called allReduce(len=129, float64, tag="layer1.bn") but rank 1 called ' +
        'allReduce(len=130, float64, tag="layer1.bn")',
    );
  }
});

test(
  'tcp: a data socket that fails while the control connections stay up fails every rank within the peer timeout, ' +
    'naming the peer',
  async (t) => {
    if (process.getuid?.() !== 0 || spawnSync('ss', ['-V']).status !== 0)
      return t.skip('needs root and ss (iproute2) to kill one socket');
    const outs = await spawnProcesses(
      2,
      async (pg, _args, lib) => {
        let dport = 0;
        if (pg.rank === 0) {
          // Rank 0 opened the direct socket to rank 1's data listener.
          const st = await lib.TCPStore.connect('127.0.0.1', Number(process.env.MASTER_PORT), { timeoutMs: 5000 });
          dport = (JSON.parse(await st.get('syncbn/addr/1')) as { dport: number }).dport;
          st.close();
        }
        const a = new Float32Array(1000);
        let killedAt = 0;
        for (let i = 0; i < 1_000_000; i++) {
          if (pg.rank === 0 && i === 50) {
            const { execFileSync } = await import('node:child_process');
            const out = execFileSync('ss', ['-K', 'dst', '127.0.0.1', 'dport', '=', String(dport)], {
              encoding: 'utf8',
            });
            killedAt = Date.now();
            if (!/ESTAB/.test(out)) return { skipped: `ss -K killed nothing: ${out}` };
          }
          try {
            pg.allReduceSync(a);
          } catch (e) {
            return {
              at: Date.now(),
              killedAt,
              iters: i,
              name: (e as Error).name,
              message: (e as Error).message,
              dead: (e as { deadRank?: number }).deadRank,
            };
          }
        }
        return { message: 'no failure' };
      },
      [],
      { deadlineMs: 30_000, output: 'capture' },
    );
    const vs = values(outs) as {
      skipped?: string;
      at: number;
      killedAt: number;
      iters: number;
      name: string;
      message: string;
      dead: number;
    }[];
    if (vs[0]!.skipped !== undefined) return t.skip(vs[0]!.skipped); // the kernel cannot destroy sockets
    const killedAt = vs[0]!.killedAt;
    // Both ends see the socket die at once; each keeps the first finding it learns of, its own or its
    // peer's: either way it names its peer, never itself.
    vs.forEach((v, rank) => {
      const peer = 1 - rank;
      assert.equal(v.name, 'PeerDiedError', v.message);
      const finding = (r: number): string =>
        `rank ${r} is unreachable: its data connection (failed \\(E[A-Z]+\\)|was closed) while its control ` +
        `connections stayed up`;
      // Its own finding, or its peer's, restated from its side (the peer said "rank <this> is unreachable").
      const re = new RegExp(
        `^(${finding(peer)}|rank ${peer} is unreachable: it lost its link to this rank \\(${finding(rank)}\\))$`,
      );
      assert.match(v.message, re);
      assert.equal(v.dead, peer, `rank ${rank}'s PeerDiedError.deadRank`);
      assert.ok(v.at - killedAt < 1500 + 1500, `failed ${v.at - killedAt} ms after the socket was killed`);
    });
  },
);
