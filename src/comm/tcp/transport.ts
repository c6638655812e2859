// TCP transport, calling-thread side: rings shared with a comm worker that owns the sockets, so blocking collectives work too.
import { Worker } from 'node:worker_threads';
import { AuthError, CommError, CommTimeoutError, UsageError, describe } from '../../errors.js';
import type { Control } from '../control.js';
import type { InitOptions } from '../init.js';
import type { RankError } from '../outcome.js';
import type { Ring } from '../ring.js';
import { spinUsFromEnv, type Transport } from '../transport.js';
import { INBOX_BLOCKED, Q_ABORT_SENT, Q_GROUP, Q_RESULTS, Q_STATE, isLoopback, tcpBytes, tcpLayout } from './layout.js';
import type { WorkerInit } from './worker.js';

const WORKER = new URL('./worker.js', import.meta.url);
export const TCP_RING_BYTES = 4 << 20;

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`environment variable ${name} must be a non-negative integer, received ${JSON.stringify(v)}`);
  return Number(v);
}

export class TcpTransport implements Transport {
  readonly kind = 'tcp' as const;
  readonly ctl: Control;
  readonly slot: number;
  readonly spinUs: number;
  private readonly outs: Ring[];
  private readonly ins: Ring[];
  private readonly query: Int32Array;
  private readonly wslot: number;
  private closed: Promise<void> | null = null;

  constructor(
    sab: SharedArrayBuffer,
    readonly rank: number,
    readonly size: number,
    ringBytes: number,
    private readonly worker: Worker,
  ) {
    const l = tcpLayout(sab, rank, size, ringBytes);
    this.ctl = l.ctl;
    this.outs = l.outs;
    this.ins = l.ins;
    this.query = l.query;
    this.wslot = l.workerSlot;
    this.slot = rank;
    // A short spin: the comm worker needs a core too.
    this.spinUs = spinUsFromEnv(25);
  }

  out(peer: number): Ring {
    return this.outs[peer]!;
  }
  in(peer: number): Ring {
    return this.ins[peer]!;
  }
  notifySent(): void {
    this.ctl.ring(this.wslot);
  }
  notifyConsumed(peer: number): void {
    if (Atomics.load(this.ctl.i32, this.ctl.doorbellIndex(peer) + INBOX_BLOCKED) !== 0) this.ctl.ring(this.wslot);
  }
  peerState(peer: number): number {
    return this.ctl.peerState(peer);
  }
  abort(err: CommError): CommError {
    const stored = this.ctl.abort(err); // rings every slot, the worker's included: it tells the peers
    // If the reason is ours, let the worker put it on the wire before we go on (the rank may be
    // about to exit, and a peer must learn the cause before it sees the connection close).
    if (stored === err) Atomics.wait(this.query, Q_ABORT_SENT, 0, 500);
    return stored;
  }
  abortError(): CommError | null {
    return this.ctl.abortError();
  }
  /**
   * At process exit after an abort (whoever stored it), give the comm worker ≤ 500 ms to put the
   * reason on the wire: otherwise a survivor may see only our connection close and name us.
   */
  flushAbort(): void {
    if (!this.ctl.aborted()) return;
    this.ctl.ring(this.wslot);
    Atomics.wait(this.query, Q_ABORT_SENT, 0, 500);
  }
  setProgress(groupId: number, seq: number): void {
    this.ctl.setProgress(this.rank, groupId, seq);
  }
  *queryProgress(groupId: number, peers: readonly number[]): Generator<void, (number | null)[], void> {
    Atomics.store(this.query, Q_GROUP, groupId | 0);
    Atomics.store(this.query, Q_STATE, 1);
    this.ctl.ring(this.wslot);
    while (Atomics.load(this.query, Q_STATE) !== 2) yield;
    Atomics.store(this.query, Q_STATE, 0);
    return peers.map((p) => {
      const v = Atomics.load(this.query, Q_RESULTS + p);
      return v < 0 ? null : v;
    });
  }
  flushed(): boolean {
    for (const r of this.outs) if (r !== undefined && r.pending() !== 0) return false;
    return true;
  }
  close(): Promise<void> {
    return (this.closed ??= new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      this.worker.ref(); // keep the process alive until the goodbyes are out
      this.worker.postMessage({ type: 'close' });
    }));
  }
}

/** Start this rank's comm worker, rendezvous at the master, connect to every peer (authenticated). */
export async function connectTcp(o: InitOptions & { rank: number; size: number }): Promise<TcpTransport> {
  const masterAddr = o.masterAddr ?? process.env.MASTER_ADDR ?? '127.0.0.1';
  const masterPort = o.masterPort ?? envInt('MASTER_PORT');
  if (masterPort === undefined || !Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535) throw new UsageError(`initProcessGroup: a world of ${o.size} processes needs MASTER_PORT (or options.masterPort), an integer in [1, 65535], received ${describe(masterPort)}`);
  const token = o.token ?? process.env.SYNCBN_TOKEN ?? '';
  if (typeof token !== 'string') throw new UsageError(`initProcessGroup: token must be a string, received ${describe(token)}`);
  const listenAddr = o.listenAddr ?? process.env.SYNCBN_LISTEN_ADDR ?? null;
  if (token === '' && (!isLoopback(masterAddr) || (listenAddr !== null && !isLoopback(listenAddr)))) throw new UsageError(`initProcessGroup: ranks on a network (MASTER_ADDR=${masterAddr}) must share a secret: set SYNCBN_TOKEN (or options.token) to the same value on every rank`);
  const peerTimeoutMs = o.peerTimeoutMs ?? envInt('SYNCBN_PEER_TIMEOUT_MS') ?? 1500;
  const rendezvousTimeoutMs = o.rendezvousTimeoutMs ?? envInt('SYNCBN_RENDEZVOUS_TIMEOUT_MS') ?? 60_000;
  for (const [k, v] of [
    ['peerTimeoutMs', peerTimeoutMs],
    ['rendezvousTimeoutMs', rendezvousTimeoutMs],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new UsageError(`initProcessGroup: ${k} must be a positive number of milliseconds, received ${describe(v)}`);
  }
  const sab = new SharedArrayBuffer(tcpBytes(o.size, TCP_RING_BYTES));
  const init: WorkerInit = { sab, rank: o.rank, size: o.size, ringBytes: TCP_RING_BYTES, token, masterAddr, masterPort, listenAddr, rendezvousTimeoutMs, peerTimeoutMs };
  const worker = new Worker(WORKER, { workerData: init });
  await new Promise<void>((resolve, reject) => {
    const onMsg = (m: { type: string; error?: RankError }): void => {
      if (m.type === 'ready') {
        cleanup();
        resolve();
      } else if (m.type === 'error') {
        cleanup();
        void worker.terminate();
        const e = m.error!;
        reject(e.name === 'AuthError' ? new AuthError(e.message) : e.name === 'CommTimeoutError' ? new CommTimeoutError(e.message, []) : new CommError(e.message));
      }
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new CommError(`rank ${o.rank}: the comm worker exited (code ${code}) during rendezvous`));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new CommError(`rank ${o.rank}: the comm worker failed during rendezvous: ${e.message}`, 'E_COMM', { cause: e }));
    };
    const cleanup = (): void => {
      worker.off('message', onMsg);
      worker.off('exit', onExit);
      worker.off('error', onError);
    };
    worker.on('message', onMsg);
    worker.on('exit', onExit);
    worker.on('error', onError);
  });
  const t = new TcpTransport(sab, o.rank, o.size, TCP_RING_BYTES, worker);
  worker.on('error', (e) => t.abort(new CommError(`rank ${o.rank}: the comm worker crashed: ${e.message}`)));
  // A forgotten close() must not keep the process alive; a natural end of the program says goodbye.
  worker.unref();
  process.once('beforeExit', () => void t.close());
  process.once('exit', () => t.flushAbort());
  return t;
}
