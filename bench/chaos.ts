// Chaos campaign (`npm run chaos`): kill, stop and break ranks of the example under --max-restarts, kill checkpoint
// writers, fuzz the listeners; a markdown table.
//
// Loopback only; bounded: every run has a hard timeout (a run past it is a hang and is SIGKILLed).
// Flags: --kill N --stop N --throw N (runs of each, default 50), --save N (default 20), --frames N
// (default 10000), --steps S (default 16), --every K (checkpoint period, default 4), --seed X.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadLatestCheckpoint, RandomGenerator } from '../src/index.js';
import { median } from './util.js';
import { fuzzListeners, type FuzzResult } from './chaos-fuzz.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/train-syncbn.js', import.meta.url));
const LIB = new URL('../src/index.js', import.meta.url).href;

const { values } = parseArgs({
  options: Object.fromEntries(
    ['kill', 'stop', 'throw', 'save', 'frames', 'steps', 'every', 'seed'].map((k) => [k, { type: 'string' as const }]),
  ),
});
const num = (k: string, d: number): number => {
  const v = values[k] === undefined ? d : Number(values[k]);
  if (!Number.isInteger(v) || v < 0)
    throw new Error(`chaos: --${k} must be a non-negative integer, received ${JSON.stringify(values[k])}`);
  return v;
};
const N = {
  kill: num('kill', 50),
  stop: num('stop', 50),
  throw: num('throw', 50),
  save: num('save', 20),
  frames: num('frames', 10_000),
};
const STEPS = num('steps', 16);
const EVERY = num('every', 4);
const rng = new RandomGenerator(num('seed', 1));
const work = mkdtempSync(join(tmpdir(), 'syncbn-chaos-'));

/**
 * A wrapper rank script (a test hook outside the library): in the first start only, the chosen rank
 * throws from inside its optimizer step number CHAOS_THROW_AT_STEP, then the example runs as usual.
 */
const WRAPPER = join(work, 'throw-wrapper.mjs');
writeFileSync(
  WRAPPER,
  `const { SGD } = await import(${JSON.stringify(LIB)});
if (process.env.SYNCBN_RESTART_COUNT === '0' && process.env.RANK === process.env.CHAOS_THROW_RANK) {
  const at = Number(process.env.CHAOS_THROW_AT_STEP);
  const step = SGD.prototype.step;
  let n = 0;
  SGD.prototype.step = function (...a) {
    if (++n === at) throw new Error('chaos: thrown in optimizer step ' + at);
    return step.apply(this, a);
  };
}
await import(${JSON.stringify(new URL(`file://${EXAMPLE}`).href)});
`,
);

interface Run {
  code: number | null;
  ms: number;
  hang: boolean;
  out: string;
  err: string;
}

/** One `syncbn run` of the example; `during(pid, child)` acts on the launcher while it runs. */
function runExample(
  tag: string,
  mode: '--processes' | '--threads',
  script: string,
  hardMs: number,
  env: Record<string, string> = {},
  during?: (pid: number, child: ChildProcess) => void,
): Promise<Run> {
  const args = [
    'run',
    '-n',
    '2',
    mode,
    '--max-restarts',
    '3',
    script,
    '--steps',
    String(STEPS),
    '--batch',
    '4',
    '--checkpoint-dir',
    join(work, `ck-${tag}`),
    '--checkpoint-every',
    String(EVERY),
    '--save',
    join(work, `${tag}.safetensors`),
  ];
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  let hang = false;
  const hard = setTimeout(() => {
    hang = true;
    child.kill('SIGKILL');
  }, hardMs);
  during?.(child.pid!, child);
  return new Promise((res) =>
    child.on('close', (code) => {
      clearTimeout(hard);
      res({ code, ms: Date.now() - t0, hang, out, err });
    }),
  );
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

interface Row {
  scenario: string;
  runs: number;
  faults: number;
  completed: number;
  bitwise: number;
  hangs: number;
  restarts: number;
  medianMs: number;
  overhead: string;
}

async function campaign(
  name: string,
  runs: number,
  mode: '--processes' | '--threads',
  clean: { ms: number; bytes: Buffer },
  fault: (i: number) => {
    script: string;
    env?: Record<string, string>;
    during?: (pid: number, child: ChildProcess) => void;
    injected: () => boolean;
  },
): Promise<Row> {
  const row: Row = {
    scenario: name,
    runs,
    faults: 0,
    completed: 0,
    bitwise: 0,
    hangs: 0,
    restarts: 0,
    medianMs: 0,
    overhead: '',
  };
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const tag = `${name.replace(/\W+/g, '-')}-${i}`;
    const f = fault(i);
    const r = await runExample(tag, mode, f.script, 4 * clean.ms + 60_000, f.env, f.during);
    if (f.injected()) row.faults++;
    row.hangs += r.hang ? 1 : 0;
    row.restarts += (r.err.match(/^syncbn run: rank \d+ failed.*; restart \d+\/\d+/gm) ?? []).length;
    if (r.code === 0) {
      row.completed++;
      const p = join(work, `${tag}.safetensors`);
      if (existsSync(p) && readFileSync(p).equals(clean.bytes)) row.bitwise++;
      else process.stderr.write(`chaos: ${tag}: final weights differ from the clean run\n`);
    } else process.stderr.write(`chaos: ${tag}: exit ${r.code}${r.hang ? ' (hang)' : ''}\n${r.err.slice(-1500)}\n`);
    times.push(r.ms);
    rmSync(join(work, `ck-${tag}`), { recursive: true, force: true });
    process.stderr.write(`chaos: ${name} ${i + 1}/${runs}: exit ${r.code} in ${r.ms} ms\n`);
  }
  row.medianMs = runs > 0 ? median(times) : 0;
  row.overhead = runs > 0 ? `${((row.medianMs / clean.ms - 1) * 100).toFixed(0)} %` : '';
  return row;
}

/**
 * Kill a single-rank writer at random moments while it checkpoints every step; the latest intact checkpoint must load.
 */
async function saveKills(
  runs: number,
  cleanMs: number,
): Promise<{ runs: number; midWrite: number; loaded: number; fallbacks: number; corrupt: number; empty: number }> {
  const res = { runs, midWrite: 0, loaded: 0, fallbacks: 0, corrupt: 0, empty: 0 };
  for (let i = 0; i < runs; i++) {
    const dir = join(work, `save-${i}`);
    const child = spawn(
      process.execPath,
      [
        EXAMPLE,
        '--steps',
        '1000',
        '--batch',
        '2',
        '--checkpoint-dir',
        dir,
        '--checkpoint-every',
        '1',
        '--checkpoint-keep',
        '2',
      ],
      { stdio: 'ignore' },
    );
    await new Promise((r) => setTimeout(r, 1000 + rng.float() * Math.max(1000, cleanMs / 2)));
    // A temp file or a data file without its manifest when the kill lands: it landed mid-write.
    const before = existsSync(dir) ? readdirSync(dir) : [];
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const after = existsSync(dir) ? readdirSync(dir) : before;
    const json = new Set(after.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)));
    if (
      after.some((f) => f.includes('.tmp-')) ||
      after.some((f) => f.endsWith('.safetensors') && !json.has(f.slice(0, -12)))
    )
      res.midWrite++;
    let warned = false;
    try {
      const ck = loadLatestCheckpoint(dir, { onWarning: () => (warned = true) });
      if (ck === null) res.empty++;
      else {
        res.loaded++;
        ck.dispose();
      }
      if (warned) res.fallbacks++;
    } catch (e) {
      res.corrupt++;
      process.stderr.write(`chaos: save-${i}: ${(e as Error).message}\n`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return res;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const clean = await runExample('clean', '--processes', EXAMPLE, 300_000);
  if (clean.code !== 0) throw new Error(`chaos: the clean run failed:\n${clean.err}`);
  // The overhead's baseline: the median of three clean runs (one run's time moves by 2× on a shared machine).
  const cleanMs = async (mode: '--processes' | '--threads', first: number): Promise<number> =>
    median([
      first,
      (await runExample(`clean-t1${mode}`, mode, EXAMPLE, 300_000)).ms,
      (await runExample(`clean-t2${mode}`, mode, EXAMPLE, 300_000)).ms,
    ]);
  const ref = { ms: await cleanMs('--processes', clean.ms), bytes: readFileSync(join(work, 'clean.safetensors')) };
  const cleanThreads = await runExample('clean-threads', '--threads', EXAMPLE, 300_000);
  if (cleanThreads.code !== 0) throw new Error(`chaos: the clean threads run failed:\n${cleanThreads.err}`);
  const refThreads = {
    ms: await cleanMs('--threads', cleanThreads.ms),
    bytes: readFileSync(join(work, 'clean-threads.safetensors')),
  };
  process.stderr.write(
    `chaos: clean runs ${ref.ms} ms (processes), ${refThreads.ms} ms (threads), medians of 3; threads ≡ processes: ` +
      `${refThreads.bytes.equals(ref.bytes)}\n`,
  );
  // The fault lands mid-training: when rank 0 reports a random step k in [1, STEPS − 1] of the first
  // start (its line, not a wall-clock guess, so every run is hit however fast the machine is).
  const signalFault = (sig: 'SIGKILL' | 'SIGSTOP') => () => {
    let injected = false;
    const atStep = 1 + rng.int(STEPS - 1);
    const victim = rng.int(2);
    return {
      script: EXAMPLE,
      during: (pid: number, child: ChildProcess) => {
        const want = new RegExp(`^\\[rank 0\\] step +${atStep} +loss`, 'm');
        let seen = '';
        child.stdout!.on('data', (s: Buffer | string) => {
          if (injected) return;
          seen += String(s);
          if (!want.test(seen)) return;
          const ranks = children(pid);
          if (ranks.length === 2) {
            process.kill(ranks[victim]!, sig);
            injected = true;
          }
        });
      },
      injected: () => injected,
    };
  };
  const rows: Row[] = [];
  rows.push(await campaign('SIGKILL a random rank (processes)', N.kill, '--processes', ref, signalFault('SIGKILL')));
  rows.push(await campaign('SIGSTOP a random rank (processes)', N.stop, '--processes', ref, signalFault('SIGSTOP')));
  rows.push(
    await campaign('throw in a random rank (threads)', N.throw, '--threads', refThreads, () => ({
      script: WRAPPER,
      env: { CHAOS_THROW_RANK: String(rng.int(2)), CHAOS_THROW_AT_STEP: String(1 + rng.int(STEPS - 1)) },
      injected: () => true,
    })),
  );
  const save = await saveKills(N.save, ref.ms);
  const fuzz: FuzzResult | null = N.frames > 0 ? await fuzzListeners(N.frames, EXAMPLE, rng) : null;
  const lines = [
    `Chaos campaign: ${STEPS} steps of examples/train-syncbn.js on 2 ranks, checkpoint every ${EVERY}, ` +
      `\`--max-restarts 3\`; clean run ${(ref.ms / 1000).toFixed(1)} s (processes), ` +
      `${(refThreads.ms / 1000).toFixed(1)} s (threads); campaign ${((Date.now() - t0) / 60000).toFixed(1)} min.`,
    '',
    '| scenario | runs | faults injected | completed | bitwise-equal finals | hangs | restarts | median wall time | ' +
      'overhead vs clean |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.scenario} | ${r.runs} | ${r.faults} | ${r.completed} | ${r.bitwise} | ${r.hangs} | ${r.restarts} | ` +
        `${(r.medianMs / 1000).toFixed(1)} s | ${r.overhead} |`,
    ),
    '',
    '| kill the checkpoint writer (SIGKILL at a random moment, a checkpoint every step) | figure |',
    '| --- | ---: |',
    `| runs | ${save.runs} |`,
    `| kills that left a partial write (temp file or data without manifest) | ${save.midWrite} |`,
    `| latest intact checkpoint loaded | ${save.loaded} |`,
    `| of which fell back past a damaged newest one (with a warning) | ${save.fallbacks} |`,
    `| no checkpoint yet (killed before the first save) | ${save.empty} |`,
    `| load failed (corrupt) | ${save.corrupt} |`,
  ];
  if (fuzz !== null) {
    lines.push(
      '',
      '| fuzz the listeners of a training 2-rank group | figure |',
      '| --- | ---: |',
      ...fuzz.rows.map(([k, v]) => `| ${k} | ${v} |`),
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
  rmSync(work, { recursive: true, force: true });
}

await main();
