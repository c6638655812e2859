// The launcher never outlives a failed group and no rank outlives the launcher: SIGSTOP stragglers, stuck threads,
// signals to the launcher.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMM, alive, rankPids, scripts, startCli, waitDead } from './cli-helpers.js';

// Ranks all-reduce in a loop for up to 40 s; argv[2] = 'spin': rank 1 is stuck in compute (no
// collectives, event loop blocked) for 40 s and rank 0 throws after 300 ms; 'late': rank 1 waits
// 1 s before joining the group.
const LOOP = `import { initProcessGroup } from ${JSON.stringify(COMM)};
console.log('pid', process.pid);
if (process.argv[2] === 'late' && process.env.RANK === '1') await new Promise((r) => setTimeout(r, 1000));
const pg = await initProcessGroup();
console.log('up');
const end = Date.now() + 40_000;
const mode = process.argv[2];
if (mode === 'spin' && pg.rank === 1) while (Date.now() < end) {}
if (mode === 'spin' && pg.rank === 0) {
  await new Promise((r) => setTimeout(r, 300));
  throw new Error('boom from rank 0');
}
const a = new Float32Array(4);
while (Date.now() < end) {
  await pg.allReduce(a);
  await new Promise((r) => setTimeout(r, 5));
}
await pg.close();
`;

test(
  'a SIGSTOPped rank: its peers fail, the launcher ends it (SIGTERM + SIGCONT) and exits with the root ' + 'cause',
  async () => {
    const s = scripts({ 'loop.mjs': LOOP });
    try {
      const cli = startCli(['run', '-n', '3', '--processes', '--grace-ms', '1000', s.path('loop.mjs')]);
      await cli.waitFor(/(\[rank \d\] up\n[^]*){3}/);
      const pids = rankPids(cli.out());
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      process.kill(pids[1]!, 'SIGSTOP');
      const { code } = await cli.exited;
      const ms = Date.now() - t0;
      assert.equal(code, 1, cli.err());
      // Peer timeout (1.5 s) + drain window (3 s) + SIGTERM; the hard limit of startCli is 60 s.
      assert.ok(ms < 10_000, `launcher took ${ms} ms after the SIGSTOP`);
      // The launcher sees the stopped process itself (Linux /proc); its peers' PeerDiedErrors are consequences.
      assert.match(
        cli.err(),
        /^\[rank 1\] Error: rank 1 was stopped \(SIGSTOP or SIGTSTP\) for 2000 ms; the launcher ended it$/m,
      );
      assert.match(cli.err(), /^syncbn run: ranks 0, 2 failed as a consequence \(PeerDiedError\)$/m);
      assert.deepEqual(await waitDead(pids, 2000), [], 'every rank is gone, the stopped one included');
    } finally {
      s.cleanup();
    }
  },
);

test(
  'a rank SIGSTOPped before it joins (the rendezvous would wait 60 s): the launcher sees it stopped and ends the ' +
    'group',
  async () => {
    const s = scripts({ 'loop.mjs': LOOP });
    try {
      const cli = startCli(['run', '-n', '2', '--processes', s.path('loop.mjs'), 'late']);
      await cli.waitFor(/^\[rank 1\] pid \d+$/m);
      const pids = rankPids(cli.out());
      const t0 = Date.now();
      process.kill(pids[1]!, 'SIGSTOP');
      const { code } = await cli.exited;
      const ms = Date.now() - t0;
      assert.equal(code, 1, cli.err());
      assert.ok(ms < 15_000, `launcher took ${ms} ms after the SIGSTOP`);
      assert.match(
        cli.err(),
        /^\[rank 1\] Error: rank 1 was stopped \(SIGSTOP or SIGTSTP\) for 2000 ms; the launcher ended it$/m,
      );
      assert.match(cli.err(), /^syncbn run: rank 0 failed as a consequence \(Error\)$/m);
      assert.deepEqual(await waitDead(pids.filter(Boolean), 2000), []);
    } finally {
      s.cleanup();
    }
  },
);

test('threads: a rank stuck in compute is terminated once another rank failed', async () => {
  const s = scripts({ 'loop.mjs': LOOP });
  try {
    const cli = startCli(['run', '-n', '2', '--threads', s.path('loop.mjs'), 'spin']);
    const { code, ms } = await cli.exited;
    assert.equal(code, 1, cli.err());
    assert.ok(ms < 15_000, `launcher took ${ms} ms`);
    assert.match(cli.err(), /^\[rank 0\] Error: boom from rank 0$/m);
    assert.match(cli.err(), /^syncbn run: rank 1 failed as a consequence \(Error\)$/m);
  } finally {
    s.cleanup();
  }
});

for (const sig of ['SIGINT', 'SIGTERM', 'SIGKILL'] as const) {
  test(`${sig} to the launcher ends every rank (processes)`, async () => {
    const s = scripts({ 'loop.mjs': LOOP });
    try {
      const cli = startCli(['run', '-n', '2', '--processes', s.path('loop.mjs')]);
      await cli.waitFor(/(\[rank \d\] pid \d+\n[^]*){2}/);
      const pids = rankPids(cli.out());
      assert.equal(pids.filter(alive).length, 2);
      cli.child.kill(sig);
      const { code } = await cli.exited;
      assert.equal(code, { SIGINT: 130, SIGTERM: 143, SIGKILL: 137 }[sig], cli.err());
      if (sig !== 'SIGKILL')
        assert.match(cli.err(), new RegExp(`^syncbn run: received ${sig}; stopping every rank$`, 'm'));
      // SIGKILL: each rank's watch thread sees its parent change within 100 ms and ends the rank.
      assert.deepEqual(await waitDead(pids, 2000), [], `ranks alive 2 s after ${sig} to the launcher`);
    } finally {
      s.cleanup();
    }
  });
}
