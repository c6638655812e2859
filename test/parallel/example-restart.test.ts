// The acceptance run: `syncbn run --processes --max-restarts 2` of the example with a rank SIGKILLed midway ≡
// the run without the kill, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { scripts, startCli } from '../comm/cli-helpers.js';

const SCRIPT = fileURLToPath(new URL('../../examples/train-syncbn.js', import.meta.url));

/** The rank processes of a launcher (its children, in the order it forked them). */
export function childPids(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

test(
  '--max-restarts: a rank SIGKILLed midway; the restarted run resumes from its checkpoint and saves the same ' +
    'bytes',
  async () => {
    const s = scripts({});
    try {
      const args = (tag: string): string[] => [
        'run',
        '-n',
        '2',
        '--processes',
        '--max-restarts',
        '2',
        SCRIPT,
        '--steps',
        '16',
        '--batch',
        '4',
        '--checkpoint-dir',
        s.path(`ck-${tag}`),
        '--checkpoint-every',
        '4',
        '--save',
        s.path(`${tag}.safetensors`),
      ];
      const clean = startCli(args('clean'));
      assert.equal((await clean.exited).code, 0, clean.err());
      const killed = startCli(args('killed'), {}, 120_000);
      await killed.waitFor(/^\[rank 0\] step {3}9 /m, 60_000);
      const ranks = childPids(killed.child.pid!);
      assert.equal(ranks.length, 2);
      process.kill(ranks[1]!, 'SIGKILL');
      const { code } = await killed.exited;
      assert.equal(code, 0, killed.err());
      assert.match(killed.err(), /^syncbn run: rank \d failed \(.+\); restart 1\/2$/m);
      assert.match(
        killed.err(),
        /resuming at step 8 from .*ckpt-00000008\.json \(taken at world size 2, global batch 8\)/,
      );
      assert.match(killed.err(), /^syncbn run: succeeded after 1 restart with 2 ranks$/m);
      assert.ok(
        readFileSync(s.path('killed.safetensors')).equals(readFileSync(s.path('clean.safetensors'))),
        'final weights differ',
      );
      assert.deepEqual(
        readdirSync(s.path('ck-killed')).filter((f) => f.includes('.tmp-')),
        [],
        'no temp file left',
      );
    } finally {
      s.cleanup();
    }
  },
);
