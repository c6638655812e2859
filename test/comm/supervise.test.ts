// Restarts: `syncbn run --max-restarts` / `launch()` restart a failed group, give up with every root cause, and shrink
// it with --min-nproc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, UsageError } from '../../src/index.js';
import { COMM, scripts, startCli } from './cli-helpers.js';

// argv[2] picks the failure: 'once' rank 1 throws after joining in the first start only; 'always'
// rank 1 throws before joining in every start; 'elastic' rank 2 dies after joining in the first
// start and cannot start (throws before joining) from then on; 'elastic2' ranks 1 and 2 likewise.
const RANK = `import { initProcessGroup } from ${JSON.stringify(COMM)};
const mode = process.argv[2];
const restart = Number(process.env.SYNCBN_RESTART_COUNT);
const rank = Number(process.env.RANK);
if (mode === 'always' && rank === 1) throw new Error('rank 1 cannot start');
const down = rank === 2 || (mode === 'elastic2' && rank === 1);
if (mode.startsWith('elastic') && restart >= 1 && down) throw new Error(\`rank \${rank} cannot start\`);
const pg = await initProcessGroup();
const a = new Float32Array(1).fill(1);
await pg.allReduce(a);
if (mode === 'once' && restart === 0 && pg.rank === 1) throw new Error('boom once');
if (mode.startsWith('elastic') && restart === 0 && pg.rank === 2) throw new Error('rank 2 lost');
console.log(\`done restart \${restart} size \${pg.size} sum \${a[0]}\`);
await pg.close();
`;

for (const [mode, n] of [
  ['--threads', 3],
  ['--processes', 2],
] as const) {
  test(
    `--max-restarts ${mode}: a rank that dies once is restarted with the whole group; SYNCBN_RESTART_COUNT ` + `counts`,
    async () => {
      const s = scripts({ 'rank.mjs': RANK });
      try {
        const cli = startCli(['run', '-n', String(n), mode, '--max-restarts', '2', s.path('rank.mjs'), 'once']);
        const { code } = await cli.exited;
        assert.equal(code, 0, cli.err());
        assert.match(cli.err(), /^syncbn run: rank 1 failed \(Error: boom once\); restart 1\/2$/m);
        assert.match(cli.err(), new RegExp(`^syncbn run: succeeded after 1 restart with ${n} ranks$`, 'm'));
        for (let r = 0; r < n; r++)
          assert.match(cli.out(), new RegExp(`^\\[rank ${r}\\] done restart 1 size ${n} sum ${n}$`, 'm'));
        assert.doesNotMatch(cli.out(), /^\[rank 1\] done restart 0/m);
      } finally {
        s.cleanup();
      }
    },
  );
}

test(
  "--max-restarts: a rank that fails on every start spends the budget; each start's root cause is " + 'printed',
  async () => {
    const s = scripts({ 'rank.mjs': RANK });
    try {
      const cli = startCli(['run', '-n', '2', '--threads', '--max-restarts', '2', s.path('rank.mjs'), 'always']);
      const { code } = await cli.exited;
      assert.equal(code, 1, cli.err());
      assert.match(
        cli.err(),
        /^syncbn run: rank 1 failed before joining the group \(Error: rank 1 cannot start\); restart 1\/2$/m,
      );
      assert.match(
        cli.err(),
        /^syncbn run: rank 1 failed before joining the group \(Error: rank 1 cannot start\); restart 2\/2$/m,
      );
      assert.match(
        cli.err(),
        /^syncbn run: giving up: restart budget spent \(2 restarts\); the root cause of each start:$/m,
      );
      for (let i = 0; i < 3; i++)
        assert.match(
          cli.err(),
          new RegExp(`^syncbn run:   start ${i} \\(2 ranks\\): rank 1 Error: rank 1 cannot start$`, 'm'),
        );
      assert.match(cli.err(), /^\[rank 1\] Error: rank 1 cannot start$/m);
    } finally {
      s.cleanup();
    }
  },
);

for (const [mode, ms] of [
  ['--threads', 20_000],
  ['--processes', 40_000],
] as const) {
  test(
    `--min-nproc ${mode}: a rank that cannot start again is left out; the run continues with N-1 ` + `ranks`,
    async () => {
      const s = scripts({ 'rank.mjs': RANK });
      try {
        const cli = startCli(
          ['run', '-n', '3', mode, '--max-restarts', '3', '--min-nproc', '2', s.path('rank.mjs'), 'elastic'],
          {},
          ms,
        );
        const { code } = await cli.exited;
        assert.equal(code, 0, cli.err());
        assert.match(cli.err(), /^syncbn run: rank 2 failed \(Error: rank 2 lost\); restart 1\/3$/m);
        assert.match(
          cli.err(),
          /^syncbn run: rank 2 failed before joining the group \(Error: rank 2 cannot start\); restart 2\/3 with 2 of 3 ranks$/m,
        );
        assert.match(cli.err(), /^syncbn run: succeeded after 2 restarts with 2 ranks$/m);
        for (let r = 0; r < 2; r++)
          assert.match(cli.out(), new RegExp(`^\\[rank ${r}\\] done restart 2 size 2 sum 2$`, 'm'));
      } finally {
        s.cleanup();
      }
    },
  );
}

test('--min-nproc: too few ranks can start again: give up at once with a message that says how many', async () => {
  const s = scripts({ 'rank.mjs': RANK });
  try {
    const cli = startCli([
      'run',
      '-n',
      '3',
      '--threads',
      '--max-restarts',
      '3',
      '--min-nproc',
      '2',
      s.path('rank.mjs'),
      'elastic2',
    ]);
    const { code } = await cli.exited;
    assert.equal(code, 1, cli.err());
    assert.match(cli.err(), /^syncbn run: rank 2 failed \(Error: rank 2 lost\); restart 1\/3$/m);
    assert.match(
      cli.err(),
      /^syncbn run: giving up: only 1 of 3 ranks could start \(ranks 1, 2 failed before joining the group\); at least minNproc = 2 are needed; the root cause of each start:$/m,
    );
    assert.doesNotMatch(cli.err(), /restart 2\/3/);
  } finally {
    s.cleanup();
  }
});

test('launch(): the library form reports restarts and failures; options are checked eagerly', async () => {
  const events: string[] = [];
  const res = await launch(
    2,
    async (pg) => {
      await pg.barrier();
      if (process.env.SYNCBN_RESTART_COUNT === '0' && pg.rank === 0) throw new Error('first start fails');
      return `${process.env.SYNCBN_RESTART_COUNT}/${process.env.SYNCBN_MAX_RESTARTS}`;
    },
    [],
    {
      maxRestarts: 1,
      output: 'capture',
      onRestart: (e) =>
        events.push(
          `${e.restart}/${e.maxRestarts} rank ${e.failure.rank} ${e.failure.error.message} next ${e.nextSize}`,
        ),
    },
  );
  assert.equal(res.ok, true);
  assert.equal(res.restarts, 1);
  assert.deepEqual(events, ['1/1 rank 0 first start fails next 2']);
  assert.deepEqual(
    res.outcomes.map((o) => (o.ok ? o.value : o.error.message)),
    ['1/1', '1/1'],
  );
  assert.deepEqual(
    res.failures.map((f) => [f.start, f.size, f.rank, f.neverJoined]),
    [[0, 2, 0, []]],
  );
  await assert.rejects(
    launch(0, 'x.js'),
    (e: Error) => e instanceof UsageError && e.message === 'launch: n must be an integer ≥ 1, received 0',
  );
  await assert.rejects(
    launch(2, 'x.js', [], { maxRestarts: -1 }),
    /^UsageError: launch: maxRestarts must be an integer ≥ 0, received -1$/,
  );
  await assert.rejects(
    launch(2, 'x.js', [], { minNproc: 3 }),
    /^UsageError: launch: minNproc must be ≤ n = 2, received 3$/,
  );
  await assert.rejects(
    launch(2, 'x.js', [], { stop: { graceMs: -1 } }),
    /^UsageError: spawnThreads: graceMs must be a finite number of milliseconds ≥ 0, received -1$/,
  );
});
