// `syncbn run`: N ranks over threads or processes, exit code, the root-cause error printed once with its rank, usage
// errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const COMM = new URL('../../src/comm/index.js', import.meta.url).href;
const DIST = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

function syncbn(args: string[], env: Record<string, string> = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('syncbn run: threads and processes, args passed through, a failing rank reported once with its rank', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-cli-'));
  try {
    const script = join(dir, 'rank.mjs');
    writeFileSync(
      script,
      `import { initProcessGroup } from ${JSON.stringify(COMM)};
const pg = await initProcessGroup();
const a = new Float32Array(3).fill(pg.rank);
await pg.allReduce(a);
const env = [process.env.RANK, process.env.WORLD_SIZE];
console.log('sum', a[0], 'size', pg.size, 'env', ...env, 'args', process.argv.slice(2).join(','));
if (process.argv[2] === 'fail' && pg.rank === 2) throw new Error('boom from rank 2');
await pg.allReduce(a);
await pg.close();
`,
    );
    for (const mode of ['--threads', '--processes']) {
      const ok = syncbn(['run', '-n', '3', mode, script, 'x', '--flag']);
      assert.equal(ok.code, 0, ok.err);
      for (let r = 0; r < 3; r++)
        assert.match(ok.out, new RegExp(`^\\[rank ${r}\\] sum 3 size 3 env ${r} 3 args x,--flag$`, 'm'));
      const bad = syncbn(['run', '-n', '3', mode, script, 'fail']);
      assert.equal(bad.code, 1);
      assert.equal(bad.err.split('Error: boom from rank 2').length - 1, 1, bad.err); // printed once
      assert.match(bad.err, /^\[rank 2\] Error: boom from rank 2$/m);
      assert.match(bad.err, /^syncbn run: ranks 0, 1 failed as a consequence \(PeerDiedError\)$/m);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const EXAMPLE = join(DIST, 'examples', 'train-syncbn.js');
const TWO_NODES = ['--nnodes', '2', '--node-rank', '0', '--master-addr', '127.0.0.1', '--master-port', '29500'];

test('syncbn: usage errors exit 2 and say what is wrong', () => {
  const cases: [string[], RegExp][] = [
    [['run', 'x.js'], /-n N \(the number of ranks\) is required/],
    [['run', '-n', '0', 'x.js'], /-n must be a positive integer, received "0"/],
    [['run', '-n', '2', '--threads', '--processes', 'x.js'], /choose one of --threads and --processes/],
    [['run', '-n', '2', '/no/such/script.js'], /script "\/no\/such\/script.js" not found/],
    // A value that starts with '-' reaches our checks (not parseArgs' "ambiguous" message).
    [['run', '-n', '-1', 'x.js'], /^syncbn run: -n must be a positive integer, received "-1"$/m],
    [['run', '--nproc', '-1', 'x.js'], /^syncbn run: -n must be a positive integer, received "-1"$/m],
    [
      ['run', '-n', '2', '--max-restarts', '-1', 'x.js'],
      /^syncbn run: --max-restarts must be a non-negative integer, received "-1"$/m,
    ],
    [
      ['run', '-n', '2', '--min-nproc', '3', 'x.js'],
      /^syncbn run: --min-nproc must be at most -n \(2\), received "3"$/m,
    ],
    [
      ['run', '-n', '2', '--min-nproc', '0', 'x.js'],
      /^syncbn run: --min-nproc must be a positive integer, received "0"$/m,
    ],
    [
      ['run', '-n', '2', '--grace-ms', '1.5', 'x.js'],
      /^syncbn run: --grace-ms must be a non-negative integer, received "1.5"$/m,
    ],
    [
      ['run', '-n', '2', '--timeout-ms', '-5', 'x.js'],
      /^syncbn run: --timeout-ms must be a positive integer, received "-5"$/m,
    ],
    [['run', '-n', '2', DIST], /^syncbn run: script ".*dist" is a directory, expected a JavaScript file$/m],
    [['run', '-n', '2', '--bogus', 'x.js'], /Unknown option '--bogus'/],
    // Restarts need every node's launcher to restart together: refused with several nodes.
    [
      ['run', '-n', '2', ...TWO_NODES, '--token', 't', '--max-restarts', '1', EXAMPLE],
      /^syncbn run: --max-restarts works on one node; with --nnodes 2 use the scheduler's own requeue$/m,
    ],
    [
      ['run', '-n', '2', ...TWO_NODES, '--threads', EXAMPLE],
      /^syncbn run: --nnodes\/--node-rank\/--master-addr\/--master-port start processes; drop --threads$/m,
    ],
    [['frobnicate'], /unknown command "frobnicate"/],
  ];
  for (const [args, want] of cases) {
    const r = syncbn(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, want);
  }
  const help = syncbn(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /run +start N ranks of a script/);
});

test(
  "syncbn run --processes: SYNCBN_TOKEN in the launcher's environment is the ranks' token (--token overrides " + 'it)',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-cli-'));
    try {
      const script = join(dir, 'rank.mjs');
      writeFileSync(
        script,
        `import { initProcessGroup } from ${JSON.stringify(COMM)};
const pg = await initProcessGroup();
await pg.barrier();
console.log('token', process.env.SYNCBN_TOKEN);
await pg.close();
`,
      );
      const fromEnv = syncbn(['run', '-n', '2', '--processes', script], { SYNCBN_TOKEN: 'tok-from-env' });
      assert.equal(fromEnv.code, 0, fromEnv.err);
      for (let r = 0; r < 2; r++) assert.match(fromEnv.out, new RegExp(`^\\[rank ${r}\\] token tok-from-env$`, 'm'));
      const flag = syncbn(['run', '-n', '2', '--processes', '--token', 'tok-flag', script], {
        SYNCBN_TOKEN: 'tok-from-env',
      });
      assert.equal(flag.code, 0, flag.err);
      assert.match(flag.out, /^\[rank 1\] token tok-flag$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
