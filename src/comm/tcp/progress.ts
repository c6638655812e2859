// The comm worker's side of a progress query (for timeout messages: which ranks never arrived): ask every live peer,
// collect, publish.
import type { Control } from '../control.js';
import { Q_GROUP, Q_RESULTS, Q_STATE } from './layout.js';
import { F } from './frames.js';
import type { Peer } from './peer.js';

/** Peers that do not answer within this long are reported as unreachable (−1). */
const ANSWER_MS = 1000;

export class ProgressQueries {
  private id = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly answers = new Map<number, number>();

  constructor(
    private readonly peers: readonly (Peer | undefined)[],
    private readonly query: Int32Array,
    private readonly ctl: Control,
    private readonly rank: number,
    private readonly size: number,
  ) {}

  /** The rank asked (Q_STATE = 1): send PROGQ to every live peer. */
  start(): void {
    if (this.timer !== null) return;
    const qid = ++this.id;
    const group = Atomics.load(this.query, Q_GROUP) >>> 0;
    this.answers.clear();
    const ask = Buffer.alloc(8);
    ask.writeUInt32LE(qid, 0);
    ask.writeUInt32LE(group, 4);
    for (const p of this.peers) if (p && !p.gone) p.send(F.PROGQ, ask);
    this.timer = setTimeout(() => this.finish(), ANSWER_MS);
    this.checkDone();
  }

  /** A PROGR answer: `rank` last called collective `seq` of the asked group. */
  answer(rank: number, qid: number, seq: number): void {
    if (qid !== this.id || this.timer === null) return;
    this.answers.set(rank, seq);
    this.checkDone();
  }

  /** A peer went away: it will not answer. */
  checkDone(): void {
    if (this.timer === null) return;
    for (const p of this.peers) if (p && !p.gone && !this.answers.has(p.rank)) return;
    this.finish();
  }

  private finish(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (let r = 0; r < this.size; r++) Atomics.store(this.query, Q_RESULTS + r, this.answers.get(r) ?? -1);
    Atomics.store(this.query, Q_STATE, 2);
    this.ctl.ring(this.rank);
  }
}
