// Where a launched rank's stdout/stderr go: through to ours, prefixed line by line with its rank, or captured.
import type { Readable } from 'node:stream';
import type { RankOutcome } from './outcome.js';

export class OutputSink {
  out = '';
  err = '';
  constructor(
    private readonly mode: 'inherit' | 'prefix' | 'capture',
    private readonly rank: number,
  ) {}
  attach(stdout: Readable | null, stderr: Readable | null): void {
    if (this.mode === 'inherit') return;
    this.pipe(stdout, false);
    this.pipe(stderr, true);
  }
  private pipe(s: Readable | null, isErr: boolean): void {
    if (s === null) return;
    s.setEncoding('utf8');
    let partial = '';
    s.on('data', (chunk: string) => {
      if (this.mode === 'capture') {
        if (isErr) this.err += chunk;
        else this.out += chunk;
        return;
      }
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const l of lines) (isErr ? process.stderr : process.stdout).write(`[rank ${this.rank}] ${l}\n`);
    });
    s.on('end', () => {
      if (partial !== '' && this.mode === 'prefix')
        (isErr ? process.stderr : process.stdout).write(`[rank ${this.rank}] ${partial}\n`);
    });
  }
  decorate<T>(o: RankOutcome<T>): RankOutcome<T> {
    if (this.mode === 'capture') {
      o.stdout = this.out;
      o.stderr = this.err;
    }
    return o;
  }
}
