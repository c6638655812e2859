// The PyTorch side of interleaved benchmarks: a scripts/bench_torch_*.py --serve child that times steps on request.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { findTorchPython } from './util.js';

/** A scripts/bench_torch_*.py --serve child: runs "<what> <count>" on request (both sides share the load). */
export class TorchServer {
  private readonly waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    createInterface({ input: proc.stdout }).on('line', (l) => this.waiting.shift()?.resolve(l));
    proc.on('exit', (code) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`torch bench server exited (${code})`));
    });
  }
  /** Start scripts/<script> --serve with the torch python (1 thread); null when there is none. */
  static async start(script: string): Promise<TorchServer | null> {
    const py = findTorchPython();
    if (py === null) return null;
    const path = fileURLToPath(new URL(`../../scripts/${script}`, import.meta.url));
    const proc = spawn(py, [path, '--serve'], { env: { ...process.env, OMP_NUM_THREADS: '1' } });
    const s = new TorchServer(proc);
    const ready = await s.next();
    return ready === 'ready' ? s : null;
  }
  private next(): Promise<string> {
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
  async times(what: string, count: number): Promise<number[]> {
    this.proc.stdin.write(`${what} ${count}\n`);
    return JSON.parse(await this.next()) as number[];
  }
  close(): void {
    this.proc.stdin.end();
  }
}

/** Alternate `rounds` × `per` calls of ours and torch's (after warm-up); per-call ms of each side. */
export async function interleave(
  ours: () => number,
  torch: TorchServer | null,
  what: string,
  rounds: number,
  per: number,
  warm: number,
): Promise<{ ours: number[]; torch: number[] }> {
  const o: number[] = [];
  const t: number[] = [];
  for (let i = 0; i < warm; i++) ours();
  if (torch !== null) await torch.times(what, warm);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < per; i++) o.push(ours());
    if (torch !== null) t.push(...(await torch.times(what, per)));
  }
  return { ours: o, torch: t };
}
