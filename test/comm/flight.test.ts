// Flight recorder: each rank's last collectives after a timeout and a mismatch, on the error, in SYNCBN_FLIGHT_DIR, and
// summarised.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  FLIGHT_ENTRIES,
  formatFlightSummary,
  readFlightDir,
  spawnThreads,
  type FlightDump,
} from '../../src/comm/index.js';
import { FlightRecorder } from '../../src/comm/flight.js';

/** Entries without their times (which vary), for exact comparison. */
function shape(d: FlightDump): unknown[] {
  return d.entries.map(({ startedAt, endedAt, ...e }) => {
    assert.ok(
      startedAt !== null && startedAt > 0 && endedAt !== null && endedAt >= startedAt,
      JSON.stringify(d.entries),
    );
    return e;
  });
}

test(
  'flight recorder after a timeout: every rank has its record on the error and in SYNCBN_FLIGHT_DIR; the summary ' +
    'names the late rank',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-flight-test-'));
    try {
      const outs = await spawnThreads(
        3,
        async (pg, _args, lib) => {
          await pg.allReduce(new Float32Array(3), 'max');
          pg.broadcastSync(new Float64Array(2), 1);
          if (pg.rank === 2) await new Promise((r) => setTimeout(r, 1500)); // late: the others time out at 400 ms
          try {
            pg.allReduceSync(new Float32Array(5), 'sum', { tag: 'late', timeoutMs: 400 });
          } catch (e) {
            return { name: (e as Error).name, flight: lib.flightOf(e) ?? null };
          }
          return 'no error';
        },
        [],
        { deadlineMs: 20_000, env: { SYNCBN_FLIGHT_DIR: dir } },
      );
      const got = outs.map((o) =>
        o.ok ? (o.value as { name: string; flight: FlightDump | null }) : assert.fail(o.error.message),
      );
      const files = readFlightDir(dir, 3);
      assert.deepEqual(readdirSync(dir).sort(), ['rank-0.json', 'rank-1.json', 'rank-2.json']); // no temp files left
      for (let r = 0; r < 3; r++) {
        const { name, flight } = got[r]!;
        assert.equal(name, 'CommTimeoutError');
        assert.ok(flight !== null, `rank ${r}: no flight record on the error`);
        assert.equal(flight.rank, r);
        assert.equal(flight.size, 3);
        assert.equal(flight.transport, 'threads');
        assert.deepEqual(flight.error, {
          name: 'CommTimeoutError',
          message: 'allReduce #3 (tag "late") timed out after 400 ms: rank 2 never arrived',
        });
        const failed = {
          id: 2,
          seq: 3,
          group: 'world',
          kind: 'allReduce',
          tag: 'late',
          len: 5,
          dtype: 'float32',
          op: 'sum',
          state: 'failed',
          error: 'CommTimeoutError',
          missing: r === 2 ? [] : [2],
        };
        assert.deepEqual(shape(flight), [
          {
            id: 0,
            seq: 1,
            group: 'world',
            kind: 'allReduce',
            tag: '',
            len: 3,
            dtype: 'float32',
            op: 'max',
            state: 'done',
            missing: [],
          },
          {
            id: 1,
            seq: 2,
            group: 'world',
            kind: 'broadcast',
            tag: '',
            len: 2,
            dtype: 'float64',
            root: 1,
            state: 'done',
            missing: [],
          },
          failed,
        ]);
        assert.deepEqual(shape(files[r]!), shape(flight));
      }
      assert.equal(
        formatFlightSummary(files).replace(/after \d+\.\d ms/g, 'after T ms'),
        [
          'flight recorder: where each rank was',
          '  rank 0: FAILED allReduce #3 (tag "late", len 5, float32) after T ms, waiting on rank 2 ' +
            '[CommTimeoutError]; previous: broadcast #2',
          '  rank 1: FAILED allReduce #3 (tag "late", len 5, float32) after T ms, waiting on rank 2 ' +
            '[CommTimeoutError]; previous: broadcast #2',
          '  rank 2: FAILED allReduce #3 (tag "late", len 5, float32) after T ms [CommTimeoutError]; previous: ' +
            'broadcast #2',
        ].join('\n'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('flight recorder after a mismatch: both calls recorded; a rank behind the others is named', async () => {
  const outs = await spawnThreads(
    2,
    async (pg, _args, lib) => {
      for (let i = 0; i < 3; i++) pg.allReduceSync(new Float32Array(4), 'sum', { tag: 'warmup' });
      try {
        pg.allReduceSync(new Float32Array(pg.rank === 1 ? 130 : 129), 'sum', { tag: 'layer1.bn' });
      } catch (e) {
        return lib.flightOf(e) ?? null;
      }
      return null;
    },
    [],
    { deadlineMs: 20_000 },
  );
  const dumps = outs.map((o) => (o.ok ? (o.value as FlightDump) : assert.fail(o.error.message)));
  for (const [r, d] of dumps.entries()) {
    assert.equal(d.entries.length, 4);
    const last = d.entries[3]!;
    assert.deepEqual(
      [last.seq, last.tag, last.len, last.state, last.error, last.missing],
      [4, 'layer1.bn', r === 1 ? 130 : 129, 'failed', 'CollectiveMismatchError', [1 - r]],
    );
    assert.equal(
      d.error!.message,
      'allReduce #4 mismatch: rank 0 called allReduce(len=129, float32, tag="layer1.bn") but rank 1 called ' +
        'allReduce(len=130, float32, tag="layer1.bn")',
    );
  }
  // A rank that never reached #4 (its record cut to #3) is named as behind; a rank without a record is said so.
  const behind = { ...dumps[1]!, entries: dumps[1]!.entries.slice(0, 3) };
  const s = formatFlightSummary([dumps[0]!, behind, null]).replace(/after \d+\.\d ms/g, 'after T ms');
  assert.equal(
    s,
    [
      'flight recorder: where each rank was',
      '  rank 0: FAILED allReduce #4 (tag "layer1.bn", len 129, float32) after T ms, waiting on rank 1 ' +
        '[CollectiveMismatchError]; previous: allReduce #3 "warmup"',
      '  rank 1: all done; last: allReduce #3 (tag "warmup", len 4, float32)',
      '  rank 2: no record (it failed no collective: killed, or busy outside the group)',
      '  behind: rank 1 reached #3; the others reached world collective #4',
    ].join('\n'),
  );
});

test('flight recorder ring: keeps the last 64 in order, ids continue, an overwritten record is not touched', () => {
  const rec = new FlightRecorder(0, 1, 'threads', '');
  const call = (seq: number) => ({
    hdr: { groupId: 1, seq, kind: 4, dtype: 0, op: 0, len: 0, extra: 0, tag: '' },
    groupName: () => 'world',
  });
  const ids: number[] = [];
  for (let i = 1; i <= 100; i++) ids.push(rec.add(call(i)));
  for (const id of ids.slice(0, 99)) {
    rec.start(id, performance.now());
    rec.end(id, undefined, null);
  }
  const d = rec.snapshot();
  assert.equal(d.entries.length, FLIGHT_ENTRIES);
  assert.deepEqual(
    d.entries.map((e) => e.seq),
    Array.from({ length: 64 }, (_, i) => 37 + i),
  );
  assert.deepEqual(
    d.entries.map((e) => e.id),
    Array.from({ length: 64 }, (_, i) => 36 + i),
  );
  assert.equal(d.entries.filter((e) => e.state === 'done').length, 63);
  assert.equal(d.entries[63]!.state, 'queued');
  assert.equal(d.error, null);
});

test(
  'syncbn run prints where each rank was after a failure (threads and processes); a given SYNCBN_FLIGHT_DIR ' +
    'keeps the files',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-flight-cli-'));
    try {
      const script = join(dir, 'rank.mjs');
      writeFileSync(
        script,
        `import { initProcessGroup } from ${JSON.stringify(new URL('../../src/comm/index.js', import.meta.url).href)};
const pg = await initProcessGroup();
for (let i = 0; i < 5; i++) pg.allReduceSync(new Float32Array(8), 'sum', { tag: 'step' });
if (pg.rank === 2) await new Promise((r) => setTimeout(r, 1500));
pg.allReduceSync(new Float32Array(8), 'sum', { tag: 'grads', timeoutMs: 400 });
await pg.close();
`,
      );
      const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
      for (const mode of ['--threads', '--processes']) {
        const r = spawnSync(process.execPath, [main, 'run', '-n', '3', mode, script], {
          encoding: 'utf8',
          timeout: 60_000,
        });
        assert.equal(r.status, 1, r.stderr);
        const at = r.stderr.indexOf('flight recorder:');
        assert.ok(
          at >
            r.stderr.indexOf(
              'CommTimeoutError: allReduce #6 (tag "grads") timed out after 400 ms: rank 2 never arrived',
            ),
          r.stderr,
        );
        const fails = (w: string): string =>
          `FAILED allReduce #6 (tag "grads", len 8, float32) after T ms${w} [CommTimeoutError]; previous: allReduce ` +
          `#5 "step"`;
        assert.equal(
          r.stderr
            .slice(at)
            .trimEnd()
            .replace(/after \d+\.\d ms/g, 'after T ms'),
          [
            'flight recorder: where each rank was',
            `  rank 0: ${fails(', waiting on rank 2')}`,
            `  rank 1: ${fails(', waiting on rank 2')}`,
            `  rank 2: ${fails('')}`,
          ].join('\n'),
          mode,
        );
      }
      const flights = join(dir, 'flights');
      const r = spawnSync(process.execPath, [main, 'run', '-n', '3', script], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, SYNCBN_FLIGHT_DIR: flights },
      });
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        new RegExp(
          `^flight recorder: where each rank was; every rank's last 64 in ` +
            `${flights.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/rank-<r>\\.json$`,
          'm',
        ),
      );
      assert.deepEqual(readdirSync(flights).sort(), ['rank-0.json', 'rank-1.json', 'rank-2.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
