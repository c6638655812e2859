// TCP transport, calling-thread side: this thread moves its bytes over direct sockets (or through a comm worker's
// relay), so blocking collectives work too.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AuthError, CommError, CommTimeoutError, PeerDiedError, UsageError, describe } from '../../errors.js';
import { PEER_ALIVE, PEER_DEAD, PEER_LEFT, type Control } from '../control.js';
import type { InitOptions } from '../init.js';
import type { RankError } from '../outcome.js';
import type { Ring } from '../ring.js';
import { envConfig, intFromEnv, processEnv } from '../config.js';
import { coreSpinUs, spinUsFromEnv, type LinkKind, type Transport, type ZeroCopy } from '../transport.js';
import { Waiter } from '../waiter.js';
import { DirectLink } from './direct.js';
import {
  DIRECT_FD,
  INBOX_BLOCKED,
  Q_ABORT_SENT,
  Q_BUSY,
  Q_GROUP,
  Q_RESULTS,
  Q_STATE,
  isLoopback,
  tcpBytes,
  tcpLayout,
} from './layout.js';
import type { WorkerInit } from './worker.js';

const WORKER = new URL('./worker.js', import.meta.url);
/**
 * Bytes per ring (one outbox and one inbox per peer): larger rings mean fewer hand-offs between the
 * rank and its comm worker per bulk all-reduce (docs/tuning.md), bounded so that all rings of a rank
 * stay near 64 MiB; never below 4 MiB.
 */
export function tcpRingBytes(size: number): number {
  let b = 16 << 20;
  while (b > 4 << 20 && 2 * (size - 1) * b > 64 << 20) b >>= 1;
  return b;
}

/** Zero-copy over the direct sockets: a relayed peer (no socket on this thread) answers −1. */
class DirectZeroCopy implements ZeroCopy {
  constructor(private readonly links: readonly (DirectLink | undefined)[]) {}
  sendNow(peer: number, src: Uint8Array, off: number, end: number): number {
    const l = this.links[peer];
    return l === undefined ? -1 : l.write(src, off, end);
  }
  recvNow(peer: number, dst: Uint8Array, off: number, end: number): number {
    const l = this.links[peer];
    return l === undefined ? -1 : l.readInto(dst, off, end);
  }
}

/**
 * Rings between this rank's thread and its peers' sockets: a peer with a direct socket is served by
 * this thread (the waiter pumps it; zero-copy available), any other through the comm worker's relay
 * (which rings this rank's doorbell).
 */
export class TcpTransport implements Transport {
  readonly kind = 'tcp' as const;
  readonly waiter: Waiter;
  /** Present when some peer has a direct socket. */
  readonly zeroCopy: ZeroCopy | null;
  readonly sharedHeaps = null;
  private readonly ctl: Control;
  private readonly spinUs: number;
  private readonly outs: Ring[];
  private readonly ins: Ring[];
  private readonly query: Int32Array;
  private readonly wslot: number;
  /** Per peer: the socket this thread reads and writes itself, or undefined (the comm worker relays). */
  private readonly links: (DirectLink | undefined)[] = [];
  private readonly direct: DirectLink[] = [];
  /** Some peer is relayed by the comm worker (it polls while this rank has collectives in flight). */
  private readonly relayed: boolean;
  private closed: Promise<void> | null = null;

  constructor(
    sab: SharedArrayBuffer,
    readonly rank: number,
    readonly size: number,
    ringBytes: number,
    private readonly worker: Worker,
    /** Spin cap when every peer is direct (no comm worker to leave a core for). */
    directSpinUs: number,
    /** How long a peer's data socket may be dead while its worker still hears from it. */
    private readonly peerTimeoutMs: number,
  ) {
    const l = tcpLayout(sab, rank, size, ringBytes);
    this.ctl = l.ctl;
    this.outs = l.outs;
    this.ins = l.ins;
    this.query = l.query;
    this.wslot = l.workerSlot;
    for (let p = 0; p < size; p++) {
      const fd = p === rank ? -1 : Atomics.load(this.ctl.i32, this.ctl.doorbellIndex(p) + DIRECT_FD) - 1;
      if (fd < 0) continue;
      const link = new DirectLink(p, fd, this.outs[p]!, this.ins[p]!);
      this.links[p] = link;
      this.direct.push(link);
    }
    this.relayed = this.direct.length < size - 1;
    const pumped = this.direct.length > 0;
    // A relay needs the comm worker to run: then spin only briefly, leaving it a core.
    this.spinUs = this.relayed ? spinUsFromEnv(25) : directSpinUs;
    // Direct sockets: nobody rings our doorbell when their bytes arrive, so the waiter pumps them
    // while it spins and between short naps. All relayed: the comm worker rings the doorbell.
    this.waiter = new Waiter(this.ctl, rank, this.spinUs, pumped ? () => this.pumpDirect() : null);
    this.zeroCopy = pumped ? new DirectZeroCopy(this.links) : null;
  }

  /** Move the direct sockets' bytes: write the outboxes, fill the inboxes; true if any moved. */
  private pumpDirect(): boolean {
    let moved = false;
    for (const l of this.direct) {
      if (l.send()) moved = true;
      if (l.recv()) moved = true;
      // EBADF: our own descriptor vanished, which only the comm worker's end can cause.
      if (l.broken === 'EBADF' && !this.ctl.aborted())
        this.abort(
          new CommError(
            `rank ${this.rank}: the connection to rank ${l.peer} was closed under this rank (the comm worker ended)`,
          ),
        );
    }
    return moved;
  }

  link(peer: number): LinkKind {
    return peer === this.rank ? 'self' : this.links[peer] !== undefined ? 'socket' : 'relay';
  }
  out(peer: number): Ring {
    return this.outs[peer]!;
  }
  in(peer: number): Ring {
    return this.ins[peer]!;
  }
  notifySent(peer: number): void {
    const l = this.links[peer];
    if (l !== undefined) l.send();
    else this.ctl.ring(this.wslot);
  }
  notifyConsumed(peer: number): void {
    if (this.links[peer] !== undefined) return; // the pump refills it
    if (Atomics.load(this.ctl.i32, this.ctl.doorbellIndex(peer) + INBOX_BLOCKED) !== 0) this.ctl.ring(this.wslot);
  }
  peerState(peer: number): number {
    const st = this.ctl.peerState(peer);
    const l = this.links[peer];
    if (l === undefined) return st;
    // A peer's goodbye (on the worker's connection) may overtake its last data (on ours): it has
    // left only once its direct socket says so, or failed.
    if (st === PEER_LEFT && l.usable && !l.eof) return PEER_ALIVE;
    // The data socket ended but the worker still hears the peer: normally its goodbye or death
    // follows at once. If not within the peer timeout, nothing can reach us from it any more.
    if (st === PEER_ALIVE && l.endedAt > 0 && performance.now() - l.endedAt > this.peerTimeoutMs) {
      const how = l.broken !== null ? `failed (${l.broken})` : 'was closed';
      this.abort(
        new PeerDiedError(
          `rank ${peer} is unreachable: its data connection ${how} while its control connections stayed up`,
          peer,
        ),
      );
      return PEER_DEAD;
    }
    return st;
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
    // A collective was submitted (setProgress is called once per collective, at submission); its
    // first send rings the worker, which then polls while this count is non-zero.
    if (this.relayed) Atomics.add(this.query, Q_BUSY, 1);
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
  /** Called once per collective at its end until true: the true answer also closes its busy window. */
  flushed(): boolean {
    for (const l of this.direct) l.send();
    for (const r of this.outs) if (r !== undefined && r.pending() !== 0) return false;
    if (this.relayed && Atomics.load(this.query, Q_BUSY) > 0) Atomics.sub(this.query, Q_BUSY, 1);
    return true;
  }
  close(): Promise<void> {
    // From here on the comm worker may close the direct sockets: never touch their descriptors again.
    for (const l of this.direct) l.detach();
    return (this.closed ??= new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      this.worker.ref(); // keep the process alive until the goodbyes are out
      this.worker.postMessage({ type: 'close' });
    }));
  }
}

/** Start this rank's comm worker, rendezvous at the master, connect to every peer (authenticated). */
export async function connectTcp(o: InitOptions & { rank: number; size: number }): Promise<TcpTransport> {
  const env = processEnv();
  const cfg = envConfig();
  const masterAddr = o.masterAddr ?? env.MASTER_ADDR ?? '127.0.0.1';
  const masterPort = o.masterPort ?? intFromEnv(env, 'MASTER_PORT');
  if (masterPort === undefined || !Number.isInteger(masterPort) || masterPort < 1 || masterPort > 65535)
    throw new UsageError(
      `initProcessGroup: a world of ${o.size} processes needs MASTER_PORT (or options.masterPort), an integer in ` +
        `[1, 65535], received ${describe(masterPort)}`,
    );
  const token = o.token ?? cfg.SYNCBN_TOKEN ?? '';
  if (typeof token !== 'string')
    throw new UsageError(`initProcessGroup: token must be a string, received ${describe(token)}`);
  const listenAddr = o.listenAddr ?? cfg.SYNCBN_LISTEN_ADDR ?? null;
  if (token === '' && (!isLoopback(masterAddr) || (listenAddr !== null && !isLoopback(listenAddr))))
    throw new UsageError(
      `initProcessGroup: ranks on a network (MASTER_ADDR=${masterAddr}) must share a secret: set SYNCBN_TOKEN or ` +
        `SYNCBN_TOKEN_FILE (or options.token) to the same value on every rank`,
    );
  const peerTimeoutMs = o.peerTimeoutMs ?? cfg.SYNCBN_PEER_TIMEOUT_MS;
  const rendezvousTimeoutMs = o.rendezvousTimeoutMs ?? cfg.SYNCBN_RENDEZVOUS_TIMEOUT_MS;
  for (const [k, v] of [
    ['peerTimeoutMs', peerTimeoutMs],
    ['rendezvousTimeoutMs', rendezvousTimeoutMs],
  ] as const) {
    if (!Number.isFinite(v) || v <= 0)
      throw new UsageError(`initProcessGroup: ${k} must be a positive number of milliseconds, received ${describe(v)}`);
  }
  const ringBytes = tcpRingBytes(o.size);
  // Polling costs a core while waiting: only when this host's ranks do not outnumber its cores.
  const local = intFromEnv(env, 'LOCAL_WORLD_SIZE') ?? o.size;
  const pollUs = cfg.SYNCBN_TCP_POLL_US ?? (local <= availableParallelism() ? 1000 : 0);
  // The rank's thread reads and writes its sockets itself (POSIX: it needs the descriptor);
  // SYNCBN_TCP_DIRECT=0 keeps the comm worker relay for every peer of this rank.
  const direct = process.platform !== 'win32' && cfg.SYNCBN_TCP_DIRECT;
  const directSpinUs = coreSpinUs(local);
  const sab = new SharedArrayBuffer(tcpBytes(o.size, ringBytes));
  const init: WorkerInit = {
    sab,
    rank: o.rank,
    size: o.size,
    ringBytes,
    token,
    masterAddr,
    masterPort,
    listenAddr,
    rendezvousTimeoutMs,
    peerTimeoutMs,
    pollUs,
    direct,
  };
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
        reject(
          e.name === 'AuthError'
            ? new AuthError(e.message)
            : e.name === 'CommTimeoutError'
              ? new CommTimeoutError(e.message, [])
              : new CommError(e.message),
        );
      }
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new CommError(`rank ${o.rank}: the comm worker exited (code ${code}) during rendezvous`));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(
        new CommError(`rank ${o.rank}: the comm worker failed during rendezvous: ${e.message}`, 'E_COMM', { cause: e }),
      );
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
  const t = new TcpTransport(sab, o.rank, o.size, ringBytes, worker, directSpinUs, peerTimeoutMs);
  worker.on('error', (e) => t.abort(new CommError(`rank ${o.rank}: the comm worker crashed: ${e.message}`)));
  // A forgotten close() must not keep the process alive; a natural end of the program says goodbye.
  worker.unref();
  process.once('beforeExit', () => void t.close());
  process.once('exit', () => t.flushAbort());
  return t;
}
