// initProcessGroup's environment: torchrun, Open MPI and Slurm variables, incomplete or inconsistent ones, and a world
// of one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors.js';
import { initProcessGroup, rankFromEnv } from '../../src/comm/index.js';

/** Inside a Slurm job step (srun sets SLURM_STEP_ID; a batch script has none). */
const STEP = { SLURM_STEP_ID: '0', SLURM_JOB_ID: '1234', SLURM_JOB_NODELIST: 'node[07-09]' };

test('rank, size and local rank come from torchrun, Open MPI or Slurm variables', () => {
  assert.deepEqual(rankFromEnv({ RANK: '3', WORLD_SIZE: '8', LOCAL_RANK: '1' }), {
    rank: 3,
    size: 8,
    localRank: 1,
    source: 'torchrun',
  });
  assert.deepEqual(
    rankFromEnv({ OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '0' }),
    { rank: 2, size: 4, localRank: 0, source: 'openmpi' },
  );
  assert.deepEqual(rankFromEnv({ ...STEP, SLURM_PROCID: '5', SLURM_NTASKS: '6', SLURM_LOCALID: '1' }), {
    rank: 5,
    size: 6,
    localRank: 1,
    source: 'slurm',
  });
  assert.deepEqual(rankFromEnv({ ...STEP, SLURM_PROCID: '1', SLURM_NTASKS: '2' }), {
    rank: 1,
    size: 2,
    localRank: 1,
    source: 'slurm',
  });
  assert.deepEqual(rankFromEnv({ JOB_COMPLETION_INDEX: '2', WORLD_SIZE: '4' }), {
    rank: 2,
    size: 4,
    localRank: 0,
    source: 'kubernetes',
  });
  assert.deepEqual(rankFromEnv({}), { rank: 0, size: 1, localRank: 0, source: 'default' });
  // syncbn run marks its ranks SYNCBN_ENV=torchrun: its variables win over a surrounding Slurm job step.
  assert.equal(
    rankFromEnv({ RANK: '0', WORLD_SIZE: '2', SYNCBN_ENV: 'torchrun', ...STEP, SLURM_PROCID: '7', SLURM_NTASKS: '9' })
      .source,
    'torchrun',
  );
  assert.throws(
    () => rankFromEnv({ RANK: '1' }),
    (e: Error) =>
      e instanceof UsageError &&
      e.message === 'torchrun environment is incomplete: RANK=1 and WORLD_SIZE=(unset) must both be set',
  );
  assert.throws(
    () => rankFromEnv({ RANK: '4', WORLD_SIZE: '4' }),
    /torchrun environment: RANK=4 must be in \[0, WORLD_SIZE=4\)/,
  );
  assert.throws(
    () => rankFromEnv({ RANK: 'x', WORLD_SIZE: '4' }),
    /environment variable RANK must be a non-negative integer, received "x"/,
  );
});

test('with no launcher environment initProcessGroup gives a working world of one; options are validated', async () => {
  await assert.rejects(
    initProcessGroup({ timeoutMs: 0 }),
    /initProcessGroup: timeoutMs must be a positive finite number of milliseconds, received 0/,
  );
  // rank/size given explicitly: the test must not depend on the runner's own environment.
  const pg = await initProcessGroup({ rank: 0, size: 1 });
  assert.equal(pg.rank, 0);
  assert.equal(pg.size, 1);
  const a = new Float64Array([1, 2, 3]);
  pg.allReduceSync(a, 'max');
  assert.deepEqual([...a], [1, 2, 3]);
  assert.deepEqual(
    (await pg.allGather(new Float32Array([4]))).map((x) => [...x]),
    [[4]],
  );
  assert.equal(await initProcessGroup({ rank: 0, size: 1 }), pg); // the same world until closed
  await pg.close();
  const again = await initProcessGroup({ rank: 0, size: 1 });
  assert.notEqual(again, pg);
  await again.close();
});
