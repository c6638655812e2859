// A PyTorch twin served by a Python process (scripts/torch_serve.py), and interleaved sampling of ours and its calls.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { findTorchPython } from './util.js';

/** One Python process answering "<what> <count>" with per-call seconds; null from start() when torch is missing. */
export class TorchServer {
  private readonly waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  private constructor(
    private readonly proc: ChildProcessByStdio<Writable, Readable, null>,
    private readonly script: string,
  ) {
    createInterface({ input: proc.stdout }).on('line', (l) => this.waiting.shift()?.resolve(l));
    proc.on('exit', (code) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`${script} exited (${code})`));
    });
  }

  /** Start `scripts/<name>` with `args` (1 thread); resolves once it printed "ready". */
  static async start(name: string, args: string[] = []): Promise<TorchServer | null> {
    const py = findTorchPython();
    if (py === null) return null;
    const script = fileURLToPath(new URL(`../../scripts/${name}`, import.meta.url));
    const env = { ...process.env, OMP_NUM_THREADS: '1' };
    const proc = spawn(py, [script, ...args], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    const s = new TorchServer(proc, name);
    return (await s.next()) === 'ready' ? s : null;
  }

  private next(): Promise<string> {
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Per-call seconds of `count` calls of the twin named `what`. */
  async times(what: string, count: number): Promise<number[]> {
    this.proc.stdin.write(`${what} ${count}\n`);
    const answer = JSON.parse(await this.next()) as number[] | { error: string };
    if (!Array.isArray(answer)) throw new Error(`${this.script}: ${answer.error}`);
    return answer;
  }

  close(): void {
    this.proc.stdin.end();
  }
}

export interface InterleaveOptions {
  /** Untimed calls on each side first (the same count on both sides). */
  warm: number;
  /** Alternations: each round times `per` calls of ours, then `per` of PyTorch's. */
  rounds: number;
  per: number;
  /** Stop adding rounds after this many seconds (at least 3 rounds run). */
  maxSeconds?: number;
}

/** Per-call seconds of ours and of the twin, sampled alternately so both see the same machine load. */
export async function interleave(
  ours: () => void,
  torch: TorchServer | null,
  what: string,
  o: InterleaveOptions,
): Promise<{ ours: number[]; torch: number[] }> {
  const mine: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < o.warm; i++) ours();
  if (torch !== null) await torch.times(what, o.warm);
  const t0 = performance.now();
  for (let r = 0; r < o.rounds; r++) {
    for (let i = 0; i < o.per; i++) {
      const a = performance.now();
      ours();
      mine.push((performance.now() - a) / 1000);
    }
    if (torch !== null) theirs.push(...(await torch.times(what, o.per)));
    if (o.maxSeconds !== undefined && r >= 2 && (performance.now() - t0) / 1000 > o.maxSeconds) break;
  }
  return { ours: mine, torch: theirs };
}
