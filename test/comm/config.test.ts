// The SYNCBN_* table: parsing, each bad value's message, caching, the README's copy, no undocumented variable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../src/errors.js';
import {
  DEFAULT_TIMEOUT_MS,
  ENV_VARS,
  envConfig,
  intFromEnv,
  parseEnv,
  processEnv,
  readEnvVar,
  renderEnvTable,
  resetEnvConfig,
  type EnvName,
} from '../../src/comm/config.js';
import { INIT_ENV_VARS } from '../../src/comm/init.js';
import { spawnThreads } from '../../src/comm/index.js';
import { coreSpinUs } from '../../src/comm/transport.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NAMES = Object.keys(ENV_VARS) as EnvName[];

const usage =
  (message: string) =>
  (e: unknown): boolean =>
    e instanceof UsageError && e.code === 'E_USAGE' && e.message === message;

/** Run `fn` with process.env changed by `vars` (undefined: deleted) and the cache reset, then restore both. */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (vs: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(vs))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  };
  set(vars);
  resetEnvConfig();
  try {
    return fn();
  } finally {
    set(saved);
    resetEnvConfig();
  }
}

test('unset and empty variables take their defaults; good values parse to numbers, flags and names', () => {
  const none = parseEnv({});
  assert.deepEqual(
    { ...none },
    {
      SYNCBN_TIMEOUT_MS: DEFAULT_TIMEOUT_MS,
      SYNCBN_PEER_TIMEOUT_MS: 1500,
      SYNCBN_RENDEZVOUS_TIMEOUT_MS: 60_000,
      SYNCBN_TOKEN: undefined,
      SYNCBN_TOKEN_FILE: undefined,
      SYNCBN_LISTEN_ADDR: undefined,
      SYNCBN_ENV: undefined,
      SYNCBN_FLIGHT_DIR: undefined,
      SYNCBN_SPIN_US: undefined,
      SYNCBN_TCP_DIRECT: true,
      SYNCBN_TCP_POLL_US: undefined,
      SYNCBN_RESTART_COUNT: 0,
      SYNCBN_MAX_RESTARTS: 0,
      SYNCBN_JOB: undefined,
    },
  );
  assert.equal(DEFAULT_TIMEOUT_MS, 60_000);
  assert.deepEqual(parseEnv(Object.fromEntries(NAMES.map((n) => [n, '']))), none);
  const got = parseEnv({
    SYNCBN_TIMEOUT_MS: '1',
    SYNCBN_PEER_TIMEOUT_MS: '007',
    SYNCBN_RENDEZVOUS_TIMEOUT_MS: String(Number.MAX_SAFE_INTEGER),
    SYNCBN_TOKEN: ' s3cret ',
    SYNCBN_TOKEN_FILE: '/run/secrets/token',
    SYNCBN_LISTEN_ADDR: '0.0.0.0',
    SYNCBN_ENV: 'slurm',
    SYNCBN_FLIGHT_DIR: '/tmp/flights',
    SYNCBN_SPIN_US: '0',
    SYNCBN_TCP_DIRECT: '0',
    SYNCBN_TCP_POLL_US: '250',
    SYNCBN_RESTART_COUNT: '3',
    SYNCBN_MAX_RESTARTS: '5',
    SYNCBN_JOB: '{"script":"/a.js","args":["x"]}',
    SYNCBN_UNKNOWN: 'ignored',
  });
  assert.deepEqual(
    { ...got },
    {
      SYNCBN_TIMEOUT_MS: 1,
      SYNCBN_PEER_TIMEOUT_MS: 7,
      SYNCBN_RENDEZVOUS_TIMEOUT_MS: Number.MAX_SAFE_INTEGER,
      SYNCBN_TOKEN: ' s3cret ',
      SYNCBN_TOKEN_FILE: '/run/secrets/token',
      SYNCBN_LISTEN_ADDR: '0.0.0.0',
      SYNCBN_ENV: 'slurm',
      SYNCBN_FLIGHT_DIR: '/tmp/flights',
      SYNCBN_SPIN_US: 0,
      SYNCBN_TCP_DIRECT: false,
      SYNCBN_TCP_POLL_US: 250,
      SYNCBN_RESTART_COUNT: 3,
      SYNCBN_MAX_RESTARTS: 5,
      SYNCBN_JOB: { script: '/a.js', args: ['x'] },
    },
  );
  assert.equal(readEnvVar({ SYNCBN_TCP_DIRECT: '1' }, 'SYNCBN_TCP_DIRECT'), true);
  assert.equal(intFromEnv({ MASTER_PORT: '29500' }, 'MASTER_PORT'), 29500);
  assert.equal(intFromEnv({ MASTER_PORT: '' }, 'MASTER_PORT'), undefined);
});

// Every row: the bad values its parser refuses (null: any non-empty text is a value).
const BAD: Record<EnvName, string[] | null> = {
  SYNCBN_TIMEOUT_MS: ['0', '1.5', '1e3', '-1', ' 60000', 'Infinity'],
  SYNCBN_PEER_TIMEOUT_MS: ['0', '1500ms'],
  SYNCBN_RENDEZVOUS_TIMEOUT_MS: ['0', '99999999999999999999'],
  SYNCBN_TOKEN: null,
  SYNCBN_TOKEN_FILE: null,
  SYNCBN_LISTEN_ADDR: null,
  SYNCBN_ENV: ['pbs', 'Slurm', ' slurm'],
  SYNCBN_FLIGHT_DIR: null,
  SYNCBN_SPIN_US: ['abc', '-1', '0x10', '1.0'],
  SYNCBN_TCP_DIRECT: ['yes', 'true', '2', '00'],
  SYNCBN_TCP_POLL_US: ['-5', '1k'],
  SYNCBN_RESTART_COUNT: ['x', '-1'],
  SYNCBN_MAX_RESTARTS: ['1.5'],
  SYNCBN_JOB: ['{', '[1]', 'null', '"text"', '42'],
};
const EXPECTED: Record<string, string> = {
  SYNCBN_TIMEOUT_MS: 'a positive integer (milliseconds)',
  SYNCBN_PEER_TIMEOUT_MS: 'a positive integer (milliseconds)',
  SYNCBN_RENDEZVOUS_TIMEOUT_MS: 'a positive integer (milliseconds)',
  SYNCBN_ENV: 'one of "torchrun", "kubernetes", "openmpi", "slurm"',
  SYNCBN_SPIN_US: 'a non-negative integer (microseconds)',
  SYNCBN_TCP_DIRECT: '0 or 1',
  SYNCBN_TCP_POLL_US: 'a non-negative integer (microseconds)',
  SYNCBN_RESTART_COUNT: 'a non-negative integer',
  SYNCBN_MAX_RESTARTS: 'a non-negative integer',
  SYNCBN_JOB: "a JSON object (syncbn's launchers set it)",
};

test('a bad value is a UsageError naming the variable, what it must be and what it is', () => {
  for (const name of NAMES) {
    const bad = BAD[name];
    if (bad === null) {
      assert.equal(EXPECTED[name], undefined);
      assert.equal(readEnvVar({ [name]: ' any text ' }, name), ' any text ');
      continue;
    }
    for (const v of bad) {
      const message = `environment variable ${name} must be ${EXPECTED[name]}, received ${JSON.stringify(v)}`;
      assert.throws(() => readEnvVar({ [name]: v }, name), usage(message), `${name}=${v}`);
      // The whole table fails on it too, whatever else is set.
      assert.throws(() => parseEnv({ SYNCBN_TCP_POLL_US: '10', [name]: v }), usage(message), `${name}=${v}`);
    }
  }
  // The brief's example, word for word; the first bad row in table order is the one reported.
  assert.throws(
    () => parseEnv({ SYNCBN_SPIN_US: 'abc' }),
    /^UsageError: environment variable SYNCBN_SPIN_US must be a non-negative integer \(microseconds\), received "abc"$/,
  );
  assert.throws(() => parseEnv({ SYNCBN_TCP_DIRECT: 'no', SYNCBN_TIMEOUT_MS: 'soon' }), /SYNCBN_TIMEOUT_MS must be/);
  assert.throws(
    () => intFromEnv({ LOCAL_WORLD_SIZE: 'two' }, 'LOCAL_WORLD_SIZE'),
    usage('environment variable LOCAL_WORLD_SIZE must be a non-negative integer, received "two"'),
  );
});

test('envConfig() resolves process.env once and caches it; a bad value throws each time; a reset rereads', () => {
  withEnv({ SYNCBN_SPIN_US: '123', SYNCBN_TCP_POLL_US: undefined }, () => {
    const a = envConfig();
    assert.equal(a.SYNCBN_SPIN_US, 123);
    process.env.SYNCBN_SPIN_US = '456';
    assert.equal(envConfig(), a, 'the same object: resolved once');
    assert.equal(envConfig().SYNCBN_SPIN_US, 123);
    assert.ok(Object.isFrozen(a));
    resetEnvConfig();
    assert.equal(envConfig().SYNCBN_SPIN_US, 456);
    process.env.SYNCBN_TCP_POLL_US = 'fast';
    resetEnvConfig();
    const message =
      'environment variable SYNCBN_TCP_POLL_US must be a non-negative integer (microseconds), received "fast"';
    assert.throws(() => envConfig(), usage(message));
    assert.throws(() => envConfig(), usage(message), 'a failure is not cached as a value');
    process.env.SYNCBN_TCP_POLL_US = '0';
    assert.equal(envConfig().SYNCBN_TCP_POLL_US, 0);
  });
});

test('SYNCBN_SPIN_US reaches the transports; a bad one is refused, not silently ignored', () => {
  withEnv({ SYNCBN_SPIN_US: '250' }, () => {
    assert.equal(coreSpinUs(1), 250);
    assert.equal(coreSpinUs(1_000_000), 250);
  });
  withEnv({ SYNCBN_SPIN_US: undefined }, () => {
    assert.equal(coreSpinUs(1), 10_000);
    assert.equal(coreSpinUs(1_000_000), 0);
  });
  withEnv({ SYNCBN_SPIN_US: 'abc' }, () => {
    const message = 'environment variable SYNCBN_SPIN_US must be a non-negative integer (microseconds), received "abc"';
    assert.throws(() => coreSpinUs(1), usage(message));
  });
});

test("spawnThreads with a bad variable in the ranks' env: every rank fails with its UsageError", async () => {
  const run = (env: Record<string, string>) =>
    spawnThreads(2, async (pg) => pg.rank, [], { env, output: 'capture', deadlineMs: 30_000 });
  const outs = await run({ SYNCBN_TCP_DIRECT: 'maybe' });
  assert.equal(outs.length, 2);
  for (const o of outs) {
    assert.equal(o.ok, false, `rank ${o.rank} ran`);
    if (o.ok) continue;
    assert.equal(o.error.name, 'UsageError');
    assert.equal(o.error.message, 'environment variable SYNCBN_TCP_DIRECT must be 0 or 1, received "maybe"');
  }
  const good = await run({ SYNCBN_TCP_DIRECT: '0' });
  assert.deepEqual(
    good.map((o) => (o.ok ? o.value : o.error.message)),
    [0, 1],
  );
});

test('syncbn run with a bad variable: a usage error (exit 2) naming it, and no rank starts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-config-'));
  try {
    const script = join(dir, 'rank.mjs');
    writeFileSync(script, "console.log('rank ran');\n");
    const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    for (const how of ['--threads', '--processes']) {
      const env = { ...process.env, SYNCBN_PEER_TIMEOUT_MS: '1.5s' };
      const opts = { encoding: 'utf8', timeout: 60_000, env } as const;
      const r = spawnSync(process.execPath, [main, 'run', '-n', '2', how, script], opts);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, '');
      const first = r.stderr.split('\n')[0];
      const want = 'must be a positive integer (milliseconds), received "1.5s"';
      assert.equal(first, `syncbn run: environment variable SYNCBN_PEER_TIMEOUT_MS ${want}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('config.ts stays portable: no node: import, the environment only via globalThis.process (none: defaults)', () => {
  const src = readFileSync(join(ROOT, 'src/comm/config.ts'), 'utf8');
  assert.doesNotMatch(src, /from '(node:)?(fs|os|path|net|worker_threads|child_process|crypto|url)'/);
  assert.doesNotMatch(src, /from 'node:/);
  const code = src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  assert.deepEqual(code.match(/\bprocess\??\.\w+/g), ['process?.env'], 'one read, through globalThis');
  const d = Object.getOwnPropertyDescriptor(globalThis, 'process')!;
  let env;
  try {
    Object.defineProperty(globalThis, 'process', { value: undefined, configurable: true, writable: true });
    env = processEnv();
  } finally {
    Object.defineProperty(globalThis, 'process', d);
  }
  assert.deepEqual(env, {});
  assert.deepEqual(parseEnv(env), parseEnv({}));
});

const README_TABLE = /<!-- config-table:start -->\n([\s\S]*?)<!-- config-table:end -->/;

// After a change to the table: npm run build:ts && node scripts/config-table.mjs --write
test("README.md's environment table is the rendered table", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = README_TABLE.exec(readme);
  assert.ok(m, 'README.md has no <!-- config-table:start --> … <!-- config-table:end --> block');
  assert.equal(m[1], renderEnvTable());
  assert.match(readme, /^## Environment variables$/m);
  const rows = renderEnvTable().trimEnd().split('\n');
  assert.equal(rows[0], '| Variable | Default | Meaning |');
  assert.deepEqual(
    rows.slice(2).map((r) => /^\| `(SYNCBN_\w+)` \| /.exec(r)?.[1]),
    NAMES,
  );
  for (const name of NAMES) {
    const v = ENV_VARS[name];
    assert.ok(v.doc.length > 20 && v.defaultDoc.length > 0, `${name} needs a doc and a default`);
  }
});

// process.emitWarning codes, not variables.
const WARNING_CODES = new Set(['SYNCBN_ONNX_TRAINING', 'SYNCBN_CHECKPOINT_FALLBACK']);

test('every SYNCBN_* name in src/ is a row of the table, and every row is read or set somewhere in src/', () => {
  const seen = new Map<string, string[]>();
  for (const f of readdirSync(join(ROOT, 'src'), { recursive: true }) as string[]) {
    if (!f.endsWith('.ts') || f === join('comm', 'config.ts')) continue;
    for (const m of readFileSync(join(ROOT, 'src', f), 'utf8').matchAll(/\bSYNCBN_[A-Z0-9_]+/g)) {
      if (!WARNING_CODES.has(m[0])) seen.set(m[0], [...(seen.get(m[0]) ?? []), f]);
    }
  }
  const rows = new Set<string>(NAMES);
  const undocumented = [...seen]
    .filter(([n]) => !rows.has(n))
    .map(([n, fs]) => `${n} (${[...new Set(fs)].join(', ')})`);
  assert.deepEqual(undocumented, [], 'variables used in src/ but missing from ENV_VARS in src/comm/config.ts');
  assert.deepEqual(
    NAMES.filter((n) => !seen.has(n)),
    [],
    'rows that nothing in src/ reads or sets',
  );
  for (const v of INIT_ENV_VARS) if (v.startsWith('SYNCBN_')) assert.ok(rows.has(v), v);
});
