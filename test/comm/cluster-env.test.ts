// Launcher environments: Slurm hostlists, derived ports, token files; incomplete/contradictory variables are
// UsageErrors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/errors.js';
import { expandHostlist, rankFromEnv, rendezvousFromEnv, tokenFromEnv } from '../../src/comm/cluster-env.js';
import { initProcessGroup } from '../../src/comm/index.js';

const STEP = { SLURM_STEP_ID: '0', SLURM_JOB_ID: '1234', SLURM_JOB_NODELIST: 'node[07-09]' };

function usage(f: () => unknown, message: string): void {
  assert.throws(f, (e: Error) => {
    assert.ok(e instanceof UsageError, `${e.name}: ${e.message}`);
    assert.equal(e.message, message);
    return true;
  });
}

test('Slurm hostlists expand with ranges, lists, padding and several bracket groups', () => {
  assert.deepEqual(expandHostlist('node[01-04,07]'), ['node01', 'node02', 'node03', 'node04', 'node07']);
  assert.deepEqual(expandHostlist('a,b'), ['a', 'b']);
  assert.deepEqual(expandHostlist('host-[1-3]'), ['host-1', 'host-2', 'host-3']);
  assert.deepEqual(expandHostlist('vm'), ['vm']);
  assert.deepEqual(expandHostlist('gpu[9-10],cpu1'), ['gpu9', 'gpu10', 'cpu1']);
  assert.deepEqual(expandHostlist('r[1-2]n[08-09]'), ['r1n08', 'r1n09', 'r2n08', 'r2n09']);
  assert.deepEqual(expandHostlist('x[5]'), ['x5']);
  usage(() => expandHostlist('node[1-3'), 'Slurm hostlist "node[1-3" is malformed: unbalanced "["');
  usage(() => expandHostlist('node1-3]'), 'Slurm hostlist "node1-3]" is malformed: unbalanced "]"');
  usage(() => expandHostlist('node[3-1]'), 'Slurm hostlist "node[3-1]" is malformed: range "3-1" runs backwards');
  usage(() => expandHostlist('node[a-b]'), 'Slurm hostlist "node[a-b]" is malformed: range "a-b" is not N or N-M');
  usage(() => expandHostlist('a,,b'), 'Slurm hostlist "a,,b" is malformed: empty host name');
  usage(() => expandHostlist(''), 'Slurm hostlist "" is malformed: empty host name');
});

test(
  'rendezvous: Slurm gives the first node and a job-id port; Open MPI gives loopback when all ranks are ' + 'local',
  () => {
    assert.deepEqual(rendezvousFromEnv('slurm', STEP), { masterAddr: 'node07', masterPort: 21234 });
    assert.deepEqual(rendezvousFromEnv('slurm', { ...STEP, SLURM_JOB_ID: '98765', SLURM_STEP_NODELIST: 'b[2-3]' }), {
      masterAddr: 'b2',
      masterPort: 28765,
    });
    // MASTER_ADDR / MASTER_PORT win.
    assert.deepEqual(rendezvousFromEnv('slurm', { ...STEP, MASTER_ADDR: '10.0.0.5', MASTER_PORT: '4000' }), {
      masterAddr: '10.0.0.5',
      masterPort: 4000,
    });
    usage(
      () => rendezvousFromEnv('slurm', { SLURM_JOB_ID: '5' }),
      'slurm environment: SLURM_JOB_NODELIST=(unset) and MASTER_ADDR is unset: cannot tell which host runs rank 0',
    );
    usage(
      () => rendezvousFromEnv('slurm', { SLURM_JOB_NODELIST: 'n1' }),
      'slurm environment: SLURM_JOB_ID=(unset) and MASTER_PORT is unset: cannot derive the rendezvous port',
    );
    const ompi = { OMPI_COMM_WORLD_SIZE: '3', OMPI_COMM_WORLD_LOCAL_SIZE: '3', OMPI_MCA_ess_base_jobid: '1107820545' };
    assert.deepEqual(rendezvousFromEnv('openmpi', ompi), { masterAddr: '127.0.0.1', masterPort: 20545 });
    assert.deepEqual(rendezvousFromEnv('openmpi', { ...ompi, OMPI_MCA_ess_base_jobid: undefined }), {
      masterAddr: '127.0.0.1',
      masterPort: undefined,
    });
    usage(
      () => rendezvousFromEnv('openmpi', { ...ompi, OMPI_COMM_WORLD_LOCAL_SIZE: '2', OMPI_COMM_WORLD_SIZE: '4' }),
      'openmpi environment: ranks span several hosts (OMPI_COMM_WORLD_LOCAL_SIZE=2, OMPI_COMM_WORLD_SIZE=4) and ' +
        "MASTER_ADDR is unset: set it to rank 0's host and pass it with `mpirun -x MASTER_ADDR`",
    );
    assert.deepEqual(rendezvousFromEnv('openmpi', { ...ompi, OMPI_COMM_WORLD_LOCAL_SIZE: '2', MASTER_ADDR: 'h0' }), {
      masterAddr: 'h0',
      masterPort: 20545,
    });
    assert.deepEqual(rendezvousFromEnv('torchrun', {}), { masterAddr: '127.0.0.1', masterPort: undefined });
    usage(
      () => rendezvousFromEnv('torchrun', { MASTER_PORT: 'x' }),
      'environment variable MASTER_PORT must be a non-negative integer, received "x"',
    );
  },
);

test('incomplete or contradictory launcher variables are UsageErrors naming the variables and their values', () => {
  usage(
    () => rankFromEnv({ ...STEP, SLURM_NTASKS: '3' }),
    'slurm environment is incomplete: SLURM_PROCID=(unset) and SLURM_NTASKS=3 must both be set',
  );
  usage(
    () => rankFromEnv({ ...STEP, SLURM_PROCID: '3', SLURM_NTASKS: '3' }),
    'slurm environment: SLURM_PROCID=3 must be in [0, SLURM_NTASKS=3)',
  );
  usage(
    () => rankFromEnv({ OMPI_COMM_WORLD_RANK: '5', OMPI_COMM_WORLD_SIZE: '2' }),
    'openmpi environment: OMPI_COMM_WORLD_RANK=5 must be in [0, OMPI_COMM_WORLD_SIZE=2)',
  );
  usage(
    () => rankFromEnv({ OMPI_COMM_WORLD_SIZE: '2' }),
    'openmpi environment is incomplete: OMPI_COMM_WORLD_RANK=(unset) and OMPI_COMM_WORLD_SIZE=2 must both be set',
  );
  usage(
    () => rankFromEnv({ RANK: '1', WORLD_SIZE: '4', ...STEP, SLURM_PROCID: '1', SLURM_NTASKS: '3' }),
    'contradictory launcher environment: RANK=1 WORLD_SIZE=4 (torchrun) but SLURM_PROCID=1 SLURM_NTASKS=3 (slurm); ' +
      'unset one or set SYNCBN_ENV=torchrun|slurm to choose',
  );
  usage(
    () => rankFromEnv({ RANK: '0', WORLD_SIZE: '2', OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '2' }),
    'contradictory launcher environment: RANK=0 WORLD_SIZE=2 (torchrun) but OMPI_COMM_WORLD_RANK=1 ' +
      'OMPI_COMM_WORLD_SIZE=2 (openmpi); unset one or set SYNCBN_ENV=torchrun|openmpi to choose',
  );
  usage(
    () => rankFromEnv({ RANK: '1', JOB_COMPLETION_INDEX: '2', WORLD_SIZE: '4' }),
    'contradictory launcher environment: RANK=1 WORLD_SIZE=4 (torchrun) but JOB_COMPLETION_INDEX=2 WORLD_SIZE=4 ' +
      '(kubernetes); unset one or set SYNCBN_ENV=torchrun|kubernetes to choose',
  );
  usage(
    () => rankFromEnv({ SLURM_NTASKS: '3', SLURM_PROCID: '0', SLURM_JOB_ID: '7' }),
    'slurm environment: SLURM_NTASKS=3 but SLURM_STEP_ID=(unset): this process is the batch script or salloc shell, ' +
      'not a task; start the ranks with `srun node script.js` (or `syncbn run`)',
  );
  usage(
    () => rankFromEnv({ SYNCBN_ENV: 'pbs' }),
    'environment variable SYNCBN_ENV must be one of "torchrun", "kubernetes", "openmpi", "slurm", received "pbs"',
  );
  usage(
    () => rankFromEnv({ SYNCBN_ENV: 'slurm', RANK: '0', WORLD_SIZE: '1' }),
    'SYNCBN_ENV=slurm but no slurm variables are set',
  );
  // Agreement is fine; SYNCBN_ENV chooses; Open MPI inside a Slurm step wins silently (mpirun is the inner launcher).
  assert.equal(
    rankFromEnv({ RANK: '1', WORLD_SIZE: '3', ...STEP, SLURM_PROCID: '1', SLURM_NTASKS: '3' }).source,
    'torchrun',
  );
  assert.equal(
    rankFromEnv({ SYNCBN_ENV: 'slurm', RANK: '1', WORLD_SIZE: '4', ...STEP, SLURM_PROCID: '1', SLURM_NTASKS: '3' })
      .size,
    3,
  );
  assert.deepEqual(
    rankFromEnv({
      OMPI_COMM_WORLD_RANK: '2',
      OMPI_COMM_WORLD_SIZE: '4',
      ...STEP,
      SLURM_PROCID: '0',
      SLURM_NTASKS: '1',
    }),
    { rank: 2, size: 4, localRank: 2, source: 'openmpi' },
  );
  // A batch script with one task (or none) is a world of one, not an error.
  assert.equal(rankFromEnv({ SLURM_NTASKS: '1', SLURM_PROCID: '0', SLURM_JOB_ID: '7' }).source, 'default');
  assert.equal(rankFromEnv({ SLURM_PROCID: '0', SLURM_JOB_ID: '7' }).source, 'default');
});

test(
  'the token comes from SYNCBN_TOKEN or an owner-only SYNCBN_TOKEN_FILE; a group/world-readable file is ' + 'refused',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-token-'));
    try {
      const f = join(dir, 'token');
      writeFileSync(f, 's3cret\n', { mode: 0o600 });
      chmodSync(f, 0o600);
      assert.equal(tokenFromEnv({ SYNCBN_TOKEN_FILE: f }), 's3cret');
      assert.equal(tokenFromEnv({ SYNCBN_TOKEN: 'abc' }), 'abc');
      assert.equal(tokenFromEnv({}), undefined);
      assert.equal(tokenFromEnv({ SYNCBN_TOKEN: 'abc', SYNCBN_TOKEN_FILE: '' }), 'abc');
      usage(
        () => tokenFromEnv({ SYNCBN_TOKEN: 'abc', SYNCBN_TOKEN_FILE: f }),
        'SYNCBN_TOKEN and SYNCBN_TOKEN_FILE are both set: set only one',
      );
      chmodSync(f, 0o644);
      usage(
        () => tokenFromEnv({ SYNCBN_TOKEN_FILE: f }),
        `SYNCBN_TOKEN_FILE="${f}" has mode 0644: it must be readable by its owner only (chmod 600)`,
      );
      chmodSync(f, 0o640);
      usage(
        () => tokenFromEnv({ SYNCBN_TOKEN_FILE: f }),
        `SYNCBN_TOKEN_FILE="${f}" has mode 0640: it must be readable by its owner only (chmod 600)`,
      );
      chmodSync(f, 0o400);
      assert.equal(tokenFromEnv({ SYNCBN_TOKEN_FILE: f }), 's3cret');
      writeFileSync(join(dir, 'empty'), '', { mode: 0o600 });
      usage(
        () => tokenFromEnv({ SYNCBN_TOKEN_FILE: join(dir, 'empty') }),
        `SYNCBN_TOKEN_FILE="${join(dir, 'empty')}" is empty`,
      );
      assert.throws(
        () => tokenFromEnv({ SYNCBN_TOKEN_FILE: join(dir, 'none') }),
        /^UsageError: SYNCBN_TOKEN_FILE=".*none" cannot be read: ENOENT/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('initProcessGroup rejects a bad environment before connecting (no listener, no wait)', async () => {
  const saved = { ...process.env };
  try {
    for (const k of Object.keys(process.env))
      if (/^(RANK|WORLD_SIZE|SLURM_|OMPI_|MASTER_|SYNCBN_|JOB_COMPLETION)/.test(k)) delete process.env[k];
    Object.assign(process.env, { WORLD_SIZE: '4', RANK: '0', ...STEP, SLURM_PROCID: '0', SLURM_NTASKS: '3' });
    const t0 = Date.now();
    await assert.rejects(
      initProcessGroup(),
      /^UsageError: contradictory launcher environment: RANK=0 WORLD_SIZE=4 \(torchrun\) but SLURM_PROCID=0 SLURM_NTASKS=3 \(slurm\)/,
    );
    delete process.env.RANK;
    delete process.env.WORLD_SIZE;
    Object.assign(process.env, { SLURM_PROCID: '1', SYNCBN_TOKEN_FILE: '/nonexistent/token' });
    await assert.rejects(initProcessGroup(), /^UsageError: SYNCBN_TOKEN_FILE="\/nonexistent\/token" cannot be read/);
    assert.ok(Date.now() - t0 < 2000, 'failed fast');
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});
