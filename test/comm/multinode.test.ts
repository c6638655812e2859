// `syncbn run --nnodes 2`: two launchers in two network namespaces (10.232.x.y, this machine only); node loss fails
// all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../src/errors.js';
import { spawnProcesses } from '../../src/comm/index.js';
import { nodeOptions } from '../../src/cli/run-nodes.js';
import { launcherEnv } from './launchers-helpers.js';
import { Hosts, netnsSkipReason } from './netns-helpers.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const COMM = new URL('../../src/comm/index.js', import.meta.url).href;
const tag = `mn${process.pid % 100000}`;
const hosts = new Hosts(tag, 2, (r) => `10.232.${process.pid % 250}.${r + 1}`);
const ns = (r: number): string => hosts.ns(r);
const addr = hosts.addrOf;

interface Ran {
  code: number | null;
  signal: string | null;
  out: string;
  err: string;
  endedAt: number;
}

/** `syncbn run --nnodes 2 --node-rank r` inside namespace r; `done` resolves when that launcher exits. */
function launcher(r: number, script: string, port: number): { done: Promise<Ran>; out: () => string } {
  const args = [
    'netns',
    'exec',
    ns(r),
    process.execPath,
    MAIN,
    'run',
    '--nnodes',
    '2',
    '--node-rank',
    String(r),
    '--master-addr',
    addr(0),
    '--master-port',
    String(port),
    '-n',
    '2',
    script,
  ];
  const env = launcherEnv({ SYNCBN_TOKEN: `${tag}-token`, SYNCBN_PEER_TIMEOUT_MS: '1000' });
  const c = spawn('ip', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  c.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<Ran>((resolve) =>
    c.on('close', (code, signal) => resolve({ code, signal, out, err, endedAt: Date.now() })),
  );
  return { done, out: () => out };
}

test('syncbn run --nnodes/--node-rank/--master-*: flags are validated with clear messages', async () => {
  assert.equal(nodeOptions({}), null);
  assert.deepEqual(nodeOptions({ nnodes: '2', 'node-rank': '1', 'master-addr': 'h0', 'master-port': '29500' }), {
    nnodes: 2,
    nodeRank: 1,
    masterAddr: 'h0',
    masterPort: 29500,
  });
  assert.equal(
    nodeOptions({ nnodes: '2', 'node-rank': '2', 'master-addr': 'h', 'master-port': '1' }),
    '--node-rank must be an integer in [0, 1], received "2"',
  );
  assert.equal(nodeOptions({ nnodes: '0' }), '--nnodes must be an integer in [1, 65536], received "0"');
  assert.equal(
    nodeOptions({ nnodes: '2', 'master-port': '70000' }),
    '--master-port must be an integer in [1, 65535], received "70000"',
  );
  assert.equal(
    nodeOptions({ nnodes: '2' }),
    '--nnodes 2 also needs --node-rank, --master-addr, --master-port (the same address and port on every node)',
  );
  const r = spawnSync(
    process.execPath,
    [
      MAIN,
      'run',
      '-n',
      '2',
      '--nnodes',
      '2',
      '--node-rank',
      '0',
      '--master-addr',
      '10.0.0.1',
      '--master-port',
      '29500',
      MAIN,
    ],
    { env: launcherEnv(), encoding: 'utf8' },
  );
  assert.equal(r.status, 2);
  assert.match(
    r.stderr,
    /^syncbn run: --nnodes 2: the nodes need a shared token: --token, SYNCBN_TOKEN or SYNCBN_TOKEN_FILE \(the same on every node\)\n/,
  );
  const t = spawnSync(process.execPath, [MAIN, 'run', '-n', '2', '--threads', '--master-port', '29500', MAIN], {
    env: launcherEnv(),
    encoding: 'utf8',
  });
  assert.match(
    t.stderr,
    /^syncbn run: --nnodes\/--node-rank\/--master-addr\/--master-port start processes; drop --threads\n/,
  );
  await assert.rejects(
    spawnProcesses(2, MAIN, [], { nnodes: 2, nodeRank: 0, masterAddr: 'h' }),
    (e: Error) =>
      e instanceof UsageError &&
      e.message === 'spawnProcesses: with nnodes=2 the masterPort must be given (the same on every node)',
  );
});

test(
  'two launchers in two namespaces: global ranks R·n…R·n+n−1 of nnodes·n; killing node 1 fails every rank on node 0 ' +
    'with a clear error',
  { skip: netnsSkipReason() ?? false, timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncbn-mn-'));
    hosts.teardown();
    try {
      hosts.setup();
      const port = 20000 + (process.pid % 10000);
      // 1. A world of 4 over two nodes: ranks and env as torchrun numbers them; the sum proves all four met.
      const okScript = join(dir, 'ok.mjs');
      writeFileSync(
        okScript,
        `import { initProcessGroup } from ${JSON.stringify(COMM)};
const pg = await initProcessGroup();
const a = new Float64Array([pg.rank + 1]);
await pg.allReduce(a);
const e = process.env;
console.log(\`rank=\${pg.rank} size=\${pg.size} local=\${e.LOCAL_RANK}/\${e.LOCAL_WORLD_SIZE} sum=\${a[0]}\`);
await pg.close();
`,
      );
      const [a, b] = await Promise.all([launcher(0, okScript, port).done, launcher(1, okScript, port).done]);
      assert.equal(a.code, 0, a.err);
      assert.equal(b.code, 0, b.err);
      assert.deepEqual(a.out.trim().split('\n').sort(), [
        '[rank 0] rank=0 size=4 local=0/2 sum=10',
        '[rank 1] rank=1 size=4 local=1/2 sum=10',
      ]);
      assert.deepEqual(b.out.trim().split('\n').sort(), [
        '[rank 2] rank=2 size=4 local=0/2 sum=10',
        '[rank 3] rank=3 size=4 local=1/2 sum=10',
      ]);

      // 2. Node 1 dies mid-training (its launcher and ranks are killed): node 0's ranks and launcher fail, naming a
      // lost rank.
      const loop = join(dir, 'loop.mjs');
      writeFileSync(
        loop,
        `import { initProcessGroup } from ${JSON.stringify(COMM)};
const pg = await initProcessGroup();
console.log('joined');
for (let i = 0; ; i++) {
  try {
    await pg.allReduce(new Float32Array(1000).fill(i));
  } catch (e) {
    console.error(\`rank \${pg.rank} failed after \${i} steps: \${e.name}: \${e.message}\`);
    throw e;
  }
  if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
}
`,
      );
      const n0 = launcher(0, loop, port + 1);
      const n1 = launcher(1, loop, port + 1);
      const until = Date.now() + 60_000;
      // Wait until all four ranks joined (each prints 'joined' after initProcessGroup), then let them train a little.
      const joined = (): number => (n0.out() + n1.out()).split('joined').length - 1;
      while (joined() < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      assert.equal(joined(), 4, 'all four ranks joined');
      await new Promise((r) => setTimeout(r, 3000));
      const killedAt = Date.now();
      hosts.kill(1);
      const [r0, r1] = await Promise.all([n0.done, n1.done]);
      if (process.env.SYNCBN_TEST_SHOW) console.log(r0.err);
      assert.equal(r1.signal ?? String(r1.code), r1.signal === null ? '137' : 'SIGKILL');
      assert.equal(r0.code, 1, `node 0's launcher: ${r0.err}`);
      assert.ok(r0.endedAt - killedAt < 10_000, `node 0 ended ${r0.endedAt - killedAt} ms after node 1 died`);
      for (const r of [0, 1]) {
        const m = new RegExp(
          `^\\[rank ${r}\\] rank ${r} failed after (\\d+) steps: PeerDiedError: rank [23] (died|left)[^\\n]*$`,
          'm',
        ).exec(r0.err);
        assert.ok(m !== null, `rank ${r}'s failure is printed and names a node-1 rank:\n${r0.err}`);
        assert.ok(Number(m[1]) >= 1, `rank ${r} trained before the loss (${m[1]} steps)`);
      }
      assert.match(r0.err, /^\[rank [01]\] PeerDiedError: rank [23] (died|left)/m);
      assert.match(r0.err, /syncbn run: rank [01] failed as a consequence \(PeerDiedError\)/);
    } finally {
      hosts.teardown();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
