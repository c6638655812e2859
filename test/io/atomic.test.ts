// Atomic writes: recognisable hidden temp names, and temp files of killed writers removed on the next save (a live
// writer's kept).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Tensor } from '../../src/tensor/tensor.js';
import { Linear } from '../../src/index.js';
import { loadModule, saveModule } from '../../src/io/safetensors.js';
import { removeStaleTemps, tempPathFor, writeFileAtomic } from '../../src/io/atomic.js';

/** A pid that is certainly dead: a child that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' });
  return r.pid;
}

test('temp files are hidden and named after their target and writer: .<name>.tmp-<pid>-<8 hex>', () => {
  const t = tempPathFor('/some/dir/model.safetensors');
  assert.match(t, new RegExp(`^/some/dir/\\.model\\.safetensors\\.tmp-${process.pid}-[0-9a-f]{8}$`));
});

test(
  "saveModule removes the temp files killed writers left for the same target, keeps a live writer's and other " +
    "targets'",
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-atomic-'));
    try {
      const path = join(dir, 'm.safetensors');
      const dead = deadPid();
      const big = Buffer.alloc(1 << 20, 7); // full-size leftovers, as a kill mid-write leaves them
      const stale = [
        `.m.safetensors.tmp-${dead}-deadbeef`,
        `m.safetensors.tmp-${dead}-0badf00d`,
        `.m.safetensors.tmp-${process.pid}-0000aaaa`,
      ];
      const kept = [
        `.m.safetensors.tmp-${process.pid}-0000bbbb`,
        `.other.safetensors.tmp-${dead}-0000cccc`,
        `.m.safetensors.tmp-${dead}-xyz`,
      ];
      for (const f of [...stale, ...kept]) writeFileSync(join(dir, f), big);
      const hourAgo = (Date.now() - 3600_000) / 1000;
      utimesSync(join(dir, stale[2]!), hourAgo, hourAgo); // pid alive but untouched for an hour: a hung or reused pid
      const m = new Linear(3, 2);
      saveModule(path, m);
      assert.deepEqual(readdirSync(dir).sort(), [...kept, 'm.safetensors'].sort());
      const back = new Linear(3, 2);
      back.weight.fill_(0);
      loadModule(path, back);
      assert.deepEqual(back.weight.toArray(), m.weight.toArray());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('removeStaleTemps returns what it removed; writeFileAtomic leaves only the target', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-atomic-'));
  try {
    const path = join(dir, 'x.json');
    const leftover = join(dir, `.x.json.tmp-${deadPid()}-12345678`);
    writeFileSync(leftover, 'half');
    assert.deepEqual(removeStaleTemps(path), [leftover]);
    writeFileAtomic(path, Buffer.from('{}'));
    assert.deepEqual(readdirSync(dir), [basename(path)]);
    assert.throws(() => writeFileAtomic(join(dir, 'no', 'x'), Tensor.zeros([1]).data as never, 'save'), {
      name: 'IOError',
      message: /^save: could not write ".*\/no\/x": ENOENT/,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
