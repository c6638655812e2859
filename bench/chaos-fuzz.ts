// Chaos campaign, fuzz part: random, truncated, oversized and replayed frames at every listener (store, mesh, direct)
// of a training 2-rank group.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { launch, type RandomGenerator } from '../src/index.js';
import { freePort } from '../src/comm/launch.js';

export interface FuzzResult {
  rows: [string, string | number][];
}

const HELLO = 1;
const AUTH = 2;
const AUTH_OK = 3;
const AUTH_FAIL = 4;

/** The first line of a (possibly multi-line) error message. */
const firstLine = (s: string): string => s.split('\n')[0]!;
function header(type: number, len: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(len >>> 0, 0);
  h.writeUInt32LE(type, 4);
  return h;
}

/** Frame types in a byte stream (stops at the first incomplete frame). */
function frameTypes(b: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at + 8 <= b.length;) {
    const len = b.readUInt32LE(at);
    out.push(b.readUInt8(at + 4));
    at += 8 + len;
  }
  return out;
}

/** TCP ports that `pids` listen on (ss -ltnp). */
function listenPorts(pids: number[]): number[] {
  const r = spawnSync('ss', ['-ltnpH'], { encoding: 'utf8' });
  const ports = new Set<number>();
  for (const l of r.stdout.split('\n')) {
    const m = /127\.0\.0\.1:(\d+)\s.*pid=(\d+),/.exec(l);
    if (m !== null && pids.includes(Number(m[2]))) ports.add(Number(m[1]));
  }
  return [...ports].sort((a, b) => a - b);
}

function rssKiB(pid: number): number {
  const p = `/proc/${pid}/status`;
  if (!existsSync(p)) return NaN;
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(p, 'utf8'));
  return m === null ? NaN : Number(m[1]);
}

function children(): number[] {
  try {
    return readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

type Verdict = 'accepted' | 'rejected' | 'no-verdict' | 'refused';

/** One connection: send `junk`; the server's verdict within 1.5 s: AUTH_OK, or AUTH_FAIL / closing the connection. */
function probe(
  port: number,
  junk: (hello: Buffer | null) => Buffer,
  wantHello: boolean,
): Promise<{ v: Verdict; hello: Buffer | null }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let sent = false;
    let hello: Buffer | null = null;
    const finish = (v: Verdict): void => {
      clearTimeout(t);
      s.destroy();
      resolve({ v, hello });
    };
    const t = setTimeout(() => finish(verdict()), 1500);
    const verdict = (): Verdict => {
      const types = frameTypes(got);
      return types.includes(AUTH_OK) ? 'accepted' : types.includes(AUTH_FAIL) ? 'rejected' : 'no-verdict';
    };
    const send = (): void => {
      if (sent) return;
      sent = true;
      s.write(junk(hello));
    };
    s.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ECONNREFUSED' ? 'refused' : verdict()));
    s.on('close', () => finish(verdict() === 'accepted' ? 'accepted' : 'rejected'));
    s.on('connect', () => !wantHello && send());
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (hello === null && got.length >= 8 && got.readUInt8(4) === HELLO && got.length >= 8 + got.readUInt32LE(0))
        hello = got.subarray(8, 8 + got.readUInt32LE(0));
      if (wantHello && hello !== null) send();
      if (verdict() !== 'no-verdict') finish(verdict());
    });
  });
}

/**
 * Fuzz every listener of a 2-rank group training `example` with `frames` connections of junk; the group must be
 * unaffected or fail cleanly.
 */
export async function fuzzListeners(frames: number, example: string, rng: RandomGenerator): Promise<FuzzResult> {
  const port = await freePort();
  const ac = new AbortController();
  const before = new Set(children());
  const group = launch(2, example, ['--steps', '100000', '--batch', '2'], {
    processes: true,
    output: 'capture',
    signal: ac.signal,
    env: { MASTER_PORT: String(port), SYNCBN_TOKEN: randomBytes(16).toString('hex') },
  });
  let pids: number[] = [];
  let ports: number[] = [];
  for (let i = 0; i < 300 && ports.length < 5; i++) {
    await new Promise((r) => setTimeout(r, 100));
    pids = children().filter((p) => !before.has(p));
    ports = listenPorts(pids);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const rss0 = pids.map(rssKiB);
  const counts: Record<Verdict, number> = { accepted: 0, rejected: 0, 'no-verdict': 0, refused: 0 };
  const kinds = ['random', 'truncated', 'oversized', 'replayed'] as const;
  let lastHello: Buffer | null = null;
  const rssWarm: number[][] = [];
  const t0 = Date.now();
  for (let i = 0; i < frames;) {
    const batch: Promise<void>[] = [];
    for (let k = 0; k < 250 && i < frames; k++, i++) {
      const p = ports[i % ports.length]!;
      const kind = kinds[rng.int(4)]!;
      const make = (hello: Buffer | null): Buffer => {
        if (kind === 'random') return randomBytes(1 + rng.int(512));
        if (kind === 'truncated')
          return Buffer.concat([header(1 + rng.int(13), 16 + rng.int(200)), randomBytes(rng.int(16))]);
        if (kind === 'oversized')
          return Buffer.concat([
            header(1 + rng.int(13), rng.int(2) === 0 ? 0x7fffffff : 257 + rng.int(1 << 20)),
            randomBytes(64),
          ]);
        // Replayed: the HELLO nonce of an earlier connection in an AUTH frame of the right size, or the server's own
        // HELLO sent back.
        const nonce = lastHello ?? randomBytes(33);
        return rng.int(2) === 0
          ? Buffer.concat([header(AUTH, 72), nonce.subarray(1, 33), randomBytes(40)])
          : Buffer.concat([header(HELLO, (hello ?? nonce).length), hello ?? nonce]);
      };
      batch.push(
        probe(p, make, kind === 'replayed').then((r) => {
          counts[r.v]++;
          if (r.hello !== null) lastHello = r.hello;
        }),
      );
    }
    await Promise.all(batch);
    if (rssWarm.length === 0 && i >= frames / 10) rssWarm.push(pids.map(rssKiB));
  }
  const fuzzMs = Date.now() - t0;
  const rss1 = pids.map(rssKiB);
  // Connections left open (incomplete frames) are dropped by the 10 s handshake timeout; then RSS again.
  await new Promise((r) => setTimeout(r, 12_000));
  const rss2 = pids.map(rssKiB);
  const aliveAtEnd = pids.filter((p) => existsSync(`/proc/${p}`)).length;
  ac.abort(new Error('fuzzing done'));
  const res = await group;
  const steps = (res.outcomes[0]?.stdout ?? '').match(/^step +\d+/gm)?.length ?? 0;
  const failedOwn = res.outcomes.filter((o) => !o.ok && o.error.code !== 'E_RANK_KILLED');
  const failures = failedOwn.map((o) => (o.ok ? '' : `rank ${o.rank} ${o.error.name}: ${firstLine(o.error.message)}`));
  const groupState =
    failedOwn.length === 0 ? `unaffected: trained ${steps} steps, ended by us` : `failed: ${failures.join('; ')}`;
  const mb = (xs: number[]): string => xs.map((x) => (x / 1024).toFixed(0)).join(' / ');
  return {
    rows: [
      ['listeners fuzzed (store, mesh and direct of both ranks)', ports.length],
      ['connections (random / truncated / oversized / replayed, ~¼ each)', frames],
      ['accepted (server sent AUTH_OK)', counts.accepted],
      ['rejected (AUTH_FAIL, or the connection closed by the listener)', counts.rejected],
      ['still open after 1.5 s (an incomplete frame: the 10 s handshake timeout drops it)', counts['no-verdict']],
      ['refused (a listener had gone)', counts.refused],
      ['rank processes alive at the end (crashes = 2 − this)', aliveAtEnd],
      [
        'RSS of rank 0 / rank 1: before; after 10 % of the frames; at the end; 12 s later (MiB)',
        `${mb(rss0)}; ${mb(rssWarm[0] ?? [])}; ${mb(rss1)}; ${mb(rss2)}`,
      ],
      ['fuzzing time', `${(fuzzMs / 1000).toFixed(1)} s`],
      ['training group', groupState],
    ],
  };
}
