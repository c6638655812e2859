// Real launchers: srun, sbatch (examples/slurm) and mpirun run the SyncBN example; losses bitwise equal to --threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launcherEnv, parseLosses, skipOrFail } from './launchers-helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'dist/src/cli/main.js');
const EXAMPLE = join(ROOT, 'dist/examples/train-syncbn.js');
const SBATCH = join(ROOT, 'examples/slurm/train-syncbn.sbatch');
const ARGS = ['--steps', '5'];

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeout = 120_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} exited with ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

let reference: string[] | undefined;
/** The losses of `syncbn run -n 3 --threads` (shared memory: no launcher, no TCP). */
function threadsLosses(): string[] {
  reference ??= parseLosses(
    ok(
      run(process.execPath, [MAIN, 'run', '-n', '3', '--threads', EXAMPLE, ...ARGS], launcherEnv()),
      'syncbn run --threads',
    ),
  );
  assert.equal(reference.length, 5);
  return reference;
}

/** A 0700 directory holding a 0600 token file, as a cluster user would keep one. */
function withToken<T>(f: (tokenFile: string, dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-launch-'));
  try {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${Math.random().toString(36).slice(2)}\n`, { mode: 0o600 });
    return f(tokenFile, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const slurmSkip = skipOrFail('slurm', () => {
  if (spawnSync('sinfo', ['--version']).status !== 0)
    return 'Slurm is not installed (sinfo missing); scripts/local-slurm.sh start installs and starts it';
  const s = spawnSync('sinfo', ['-h', '-o', '%a %T'], { encoding: 'utf8', timeout: 10_000 });
  if (s.status !== 0 || !/^up (idle|mixed|allocated)/m.test(s.stdout))
    return `no Slurm node is up (sinfo: ${(s.stdout + s.stderr).trim() || s.status}); run scripts/local-slurm.sh start`;
  return null;
});

const mpiSkip = skipOrFail('openmpi', () =>
  spawnSync('mpirun', ['--version']).status === 0
    ? null
    : 'Open MPI is not installed (mpirun missing): apt-get install openmpi-bin',
);

test(
  'srun -n 3: ranks rendezvous from Slurm variables alone; losses bitwise equal to syncbn run --threads',
  { skip: slurmSkip, timeout: 180_000 },
  () => {
    const want = threadsLosses();
    withToken((tokenFile) => {
      const r = run(
        'srun',
        ['-n', '3', '--oversubscribe', process.execPath, EXAMPLE, ...ARGS],
        launcherEnv({ SYNCBN_TOKEN_FILE: tokenFile }),
      );
      assert.deepEqual(parseLosses(ok(r, 'srun')), want);
    });
  },
);

test(
  'sbatch examples/slurm/train-syncbn.sbatch: the batch job prints losses bitwise equal to syncbn run --threads',
  { skip: slurmSkip, timeout: 240_000 },
  () => {
    const want = threadsLosses();
    withToken((tokenFile, dir) => {
      const out = join(dir, 'job-%j.out');
      const env = launcherEnv({
        SYNCBN_TOKEN_FILE: tokenFile,
        PATH: `${join(process.execPath, '..')}:${process.env.PATH}`,
      });
      const sub = ok(run('sbatch', ['--parsable', '--chdir', ROOT, '--output', out, SBATCH, ...ARGS], env), 'sbatch');
      const id = sub.trim().split(';')[0]!;
      assert.match(id, /^\d+$/, `sbatch --parsable printed ${JSON.stringify(sub)}`);
      // Bounded poll: the job must reach a final state within 150 s (else it is cancelled and the test fails).
      let state = '';
      const until = Date.now() + 150_000;
      while (Date.now() < until) {
        const s = spawnSync('scontrol', ['show', 'job', '-o', id], { encoding: 'utf8' });
        state = /JobState=(\S+)/.exec(s.stdout)?.[1] ?? `(scontrol: ${s.stderr.trim()})`;
        if (/^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)/.test(state))
          break;
        spawnSync('sleep', ['0.5']);
      }
      const file = out.replace('%j', id);
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '(no output file)';
      if (!/^COMPLETED/.test(state)) spawnSync('scancel', [id]);
      assert.equal(state, 'COMPLETED', `job ${id} ended ${state}:\n${text}`);
      assert.deepEqual(parseLosses(text), want);
    });
  },
);

test(
  'mpirun -n 3: ranks rendezvous from Open MPI variables alone; losses bitwise equal to syncbn run --threads',
  { skip: mpiSkip, timeout: 180_000 },
  () => {
    const want = threadsLosses();
    const r = run(
      'mpirun',
      ['--allow-run-as-root', '--oversubscribe', '-n', '3', process.execPath, EXAMPLE, ...ARGS],
      launcherEnv(),
    );
    assert.deepEqual(parseLosses(ok(r, 'mpirun')), want);
  },
);
