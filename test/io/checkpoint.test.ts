// Checkpoint files: manifest + sha256, fallback past truncated/corrupt checkpoints (with a warning), keep-last-K, rank
// checksum.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../../src/tensor/tensor.js';
import { spawnThreads, type ProcessGroup } from '../../src/comm/index.js';
import { loadCheckpoint, loadLatestCheckpoint, saveCheckpoint, type CheckpointState } from '../../src/io/checkpoint.js';

const LIB = new URL('../../src/index.js', import.meta.url).href;

function state(step: number): CheckpointState {
  return {
    step,
    worldSize: 2,
    globalBatch: 8,
    tensors: { w: Tensor.from([step, 0.5, -1e-30]), b: Tensor.from([7]) },
    extra: { lr: 0.1 + step, nested: { a: [1, 2] } },
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-ck-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a checkpoint is ckpt-<step>.safetensors + ckpt-<step>.json; it loads back exactly; no temp files remain', () =>
  withDir(async (dir) => {
    const p = await saveCheckpoint(dir, state(12));
    assert.equal(p, join(dir, 'ckpt-00000012.json'));
    assert.deepEqual(readdirSync(dir).sort(), ['ckpt-00000012.json', 'ckpt-00000012.safetensors']);
    const m = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
    assert.equal(m.format, 'syncbn-checkpoint');
    assert.equal(m.bytes, readFileSync(join(dir, 'ckpt-00000012.safetensors')).length);
    assert.match(m.sha256 as string, /^[0-9a-f]{64}$/);
    const ck = loadLatestCheckpoint(dir)!;
    assert.equal(ck.step, 12);
    assert.equal(ck.worldSize, 2);
    assert.equal(ck.globalBatch, 8);
    assert.deepEqual(ck.extra, { lr: 12.1, nested: { a: [1, 2] } });
    assert.deepEqual(Array.from(ck.tensors.w!.data), Array.from(Float32Array.of(12, 0.5, -1e-30)));
    ck.dispose();
    assert.equal(loadLatestCheckpoint(join(dir, 'none')), null, 'no directory: nothing to resume');
  }));

test('keep: only the newest K checkpoints remain, and a data file whose manifest was never written is removed', () =>
  withDir(async (dir) => {
    writeFileSync(join(dir, 'ckpt-00000002.safetensors'), 'partial'); // a writer killed before its manifest
    for (let s = 1; s <= 5; s++) await saveCheckpoint(dir, state(s), { keep: 2 });
    assert.deepEqual(readdirSync(dir).sort(), [
      'ckpt-00000004.json',
      'ckpt-00000004.safetensors',
      'ckpt-00000005.json',
      'ckpt-00000005.safetensors',
    ]);
    await assert.rejects(saveCheckpoint(dir, state(6), { keep: 0 }), {
      name: 'UsageError',
      message: 'saveCheckpoint: keep must be an integer ≥ 1, received 0',
    });
    await assert.rejects(saveCheckpoint(dir, { ...state(6), step: 1.5 }), {
      message: 'saveCheckpoint: state.step must be an integer ≥ 0, received 1.5',
    });
    await assert.rejects(saveCheckpoint(dir, { ...state(6), globalBatch: '8' as never }), {
      message: 'saveCheckpoint: state.globalBatch must be an integer ≥ 1 or null, received "8"',
    });
  }));

for (const damage of ['truncated', 'corrupt', 'manifest'] as const) {
  test(`a ${damage} newest checkpoint is skipped with a warning and the previous one is loaded`, () =>
    withDir(async (dir) => {
      await saveCheckpoint(dir, state(4));
      await saveCheckpoint(dir, state(8));
      const data = join(dir, 'ckpt-00000008.safetensors');
      const len = readFileSync(data).length;
      if (damage === 'truncated') truncateSync(data, len - 5);
      else if (damage === 'corrupt') {
        const b = readFileSync(data);
        b[len - 3]! ^= 0x10; // one bit of a tensor value: the file still parses, only the checksum notices
        writeFileSync(data, b);
      } else {
        const m = JSON.parse(readFileSync(join(dir, 'ckpt-00000008.json'), 'utf8')) as Record<string, unknown>;
        delete m.sha256;
        writeFileSync(join(dir, 'ckpt-00000008.json'), JSON.stringify(m));
      }
      const warnings: string[] = [];
      const ck = loadLatestCheckpoint(dir, { onWarning: (w) => warnings.push(w) })!;
      assert.equal(ck.step, 4);
      ck.dispose();
      assert.equal(warnings.length, 1);
      const why = {
        truncated: `${data} has ${len - 5} bytes, its manifest says ${len} (truncated or overwritten)`,
        corrupt: `${data} has sha256 `,
        manifest:
          `${join(dir, 'ckpt-00000008.json')}: field "sha256": expected 64 lowercase hex digits, received ` +
          `undefined`,
      }[damage];
      assert.ok(
        warnings[0]!.startsWith(
          `checkpoint ${join(dir, 'ckpt-00000008.json')} is unusable, trying the previous one: loadCheckpoint: ${why}`,
        ),
        warnings[0],
      );
      if (damage === 'corrupt') assert.match(warnings[0]!, /, its manifest says [0-9a-f]{64} \(corrupt\)$/);
    }));
}

test(
  'the default warning goes through process.emitWarning; when every checkpoint is damaged, IOError lists them ' + 'all',
  () =>
    withDir(async (dir) => {
      await saveCheckpoint(dir, state(1));
      await saveCheckpoint(dir, state(2));
      truncateSync(join(dir, 'ckpt-00000002.safetensors'), 10);
      const seen: Error[] = [];
      const onWarning = (w: Error): void => void seen.push(w);
      process.on('warning', onWarning);
      try {
        const ck = loadLatestCheckpoint(dir)!;
        ck.dispose();
        await new Promise((r) => setImmediate(r));
      } finally {
        process.off('warning', onWarning);
      }
      assert.equal(seen.length, 1);
      assert.equal((seen[0] as Error & { code?: string }).code, 'SYNCBN_CHECKPOINT_FALLBACK');
      writeFileSync(join(dir, 'ckpt-00000001.json'), '{"format": "syncbn-checkpoint", "version": 2}');
      assert.throws(
        () => loadLatestCheckpoint(dir, { onWarning: () => {} }),
        (e: Error) =>
          e.name === 'IOError' &&
          e.message.startsWith(
            `loadLatestCheckpoint: no usable checkpoint in ${dir}: loadCheckpoint: ` +
              `${join(dir, 'ckpt-00000002.safetensors')} has 10 bytes`,
          ) &&
          e.message.endsWith(
            `; loadCheckpoint: ${join(dir, 'ckpt-00000001.json')}: field "version": expected 1, received 2`,
          ),
      );
      assert.throws(() => loadCheckpoint(join(dir, 'ckpt-00000009.json')), {
        name: 'IOError',
        message: new RegExp(`^loadCheckpoint: could not read ${join(dir, 'ckpt-00000009.json')}: ENOENT`),
      });
    }),
);

/** Rank body: every rank saves the same state except the perturbed ranks; returns the error or 'saved'. */
const body = async (
  pg: ProcessGroup,
  args: string[],
): Promise<string | { name: string; message: string; ranks: number[] }> => {
  const lib = (await import(args[0]!)) as typeof import('../../src/index.js');
  const bad = JSON.parse(args[2]!) as number[];
  const w = lib.Tensor.from([1, 2, 3]);
  if (bad.includes(pg.rank)) w.data[1] = 2.0000002; // one ulp-sized difference
  const st = {
    step: 3,
    worldSize: pg.size,
    globalBatch: null,
    tensors: { 'model.w': w, 'model.b': lib.Tensor.from([0]) },
    extra: { epoch: 0 },
  };
  try {
    await lib.saveCheckpoint(args[1]!, st, { group: pg });
    return 'saved';
  } catch (e) {
    const err = e as Error & { ranks: number[] };
    return { name: err.name, message: err.message, ranks: err.ranks };
  }
};

test(
  '3 thread ranks: identical state is saved once by rank 0; a rank that differs makes every rank throw ' +
    'CheckpointMismatchError naming it',
  () =>
    withDir(async (dir) => {
      const ok = await spawnThreads(3, body, [LIB, join(dir, 'a'), '[]'], { deadlineMs: 60_000 });
      assert.deepEqual(
        ok.map((o) => o.ok && o.value),
        ['saved', 'saved', 'saved'],
      );
      assert.deepEqual(readdirSync(join(dir, 'a')).sort(), ['ckpt-00000003.json', 'ckpt-00000003.safetensors']);
      const outs = await spawnThreads(3, body, [LIB, join(dir, 'b'), '[2]'], { deadlineMs: 60_000 });
      const msg =
        'saveCheckpoint: rank 2 holds a different training state than rank 0, refusing to save (rank 2 differs in ' +
        'model.w)';
      for (const o of outs) {
        assert.ok(o.ok, o.ok ? '' : o.error.message);
        assert.deepEqual(o.value, { name: 'CheckpointMismatchError', message: msg, ranks: [2] });
      }
      assert.equal(existsSync(join(dir, 'b')), false, 'nothing written');
      // rank 0 cannot write (the directory's parent is a file): every rank throws, none returns as if saved
      writeFileSync(join(dir, 'file'), '');
      const failed = await spawnThreads(2, body, [LIB, join(dir, 'file', 'ck'), '[]'], { deadlineMs: 60_000 });
      const v = failed.map((o) => (o.ok ? o.value : o.error.message)) as { name: string; message: string }[];
      assert.equal(v[0]!.name, 'IOError');
      assert.match(v[0]!.message, new RegExp(`^saveCheckpoint: could not create ${join(dir, 'file', 'ck')}: ENOTDIR`));
      assert.deepEqual(v[1], {
        name: 'IOError',
        message:
          `saveCheckpoint: rank 0 could not write ${join(dir, 'file', 'ck', 'ckpt-00000003.json')} (see its ` +
          `error)`,
        ranks: undefined,
      });
    }),
);
