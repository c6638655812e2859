// The comm worker of a TCP rank: the peers' connections (set up by mesh.ts), relaying rings to sockets, heartbeats,
// aborts, goodbyes.
import { parentPort, workerData } from 'node:worker_threads';
import { CommError, PeerDiedError } from '../../errors.js';
import {
  PEER_DEAD,
  PEER_LEFT,
  deserializeCommError,
  serializeCommError,
  type SerializedCommError,
} from '../control.js';
import { toRankError } from '../outcome.js';
import { F, writeFrame, type Conn } from './frames.js';
import { DIRECT_FD, INBOX_BLOCKED, Q_ABORT_SENT, Q_BUSY, Q_STATE, tcpLayout } from './layout.js';
import { Mesh, type MeshConfig, type RxReads } from './mesh.js';
import { Peer } from './peer.js';
import { ProgressQueries } from './progress.js';

export interface WorkerInit extends MeshConfig {
  sab: SharedArrayBuffer;
  ringBytes: number;
  peerTimeoutMs: number;
  /** How long the worker polls without activity while a collective is in flight, µs (0: never). */
  pollUs: number;
}

const d = workerData as WorkerInit;
const { ctl, query, outs, ins, workerSlot } = tcpLayout(d.sab, d.rank, d.size, d.ringBytes);
const i32 = ctl.i32;
const HEARTBEAT_MS = Math.max(20, Math.min(250, d.peerTimeoutMs / 5));

const peers: (Peer | undefined)[] = [];
const queries = new ProgressQueries(peers, query, ctl, d.rank, d.size);
let closing = false;
let abortSent = false;
let relayed = true; // some peer's data goes through this worker (set after the rendezvous)
let rxCount = 0; // reads on receiving sockets, for the poll loop to see activity

/**
 * Data-path wake-up: bump the rank's doorbell now (a spinning rank sees it at once) but notify a
 * sleeping one once per event-loop turn, not once per socket read or write completion:
 * Atomics.notify plus the thread switch it causes cost more than the copy of such a chunk.
 */
let wakePending = false;
function wakeRank(): void {
  Atomics.add(i32, ctl.doorbellIndex(d.rank), 1);
  if (wakePending) return;
  wakePending = true;
  setImmediate(flushWake);
}
function flushWake(): void {
  wakePending = false;
  ctl.ring(d.rank);
}

function now(): number {
  return Date.now();
}

function peer(rank: number): Peer {
  let p = peers[rank];
  if (p === undefined) {
    p = new Peer(rank, {
      out: outs[rank]!,
      in: ins[rank]!,
      wake: wakeRank,
      setBlocked: (on) => Atomics.store(i32, ctl.doorbellIndex(rank) + INBOX_BLOCKED, on),
      now,
    });
    peers[rank] = p;
  }
  return p;
}

/**
 * The abort reason a peer sent. A peer that lost its link to us says "rank <us> is unreachable": we
 * restate it from our side (the peer is the one we cannot reach), so no rank reports itself dead.
 */
function peerReason(from: number, payload: Buffer): CommError {
  const e = deserializeCommError(JSON.parse(payload.toString('utf8')) as SerializedCommError);
  if (!(e instanceof PeerDiedError) || e.deadRank !== d.rank) return e;
  return new PeerDiedError(`rank ${from} is unreachable: it lost its link to this rank (${e.message})`, from);
}

function control(p: Peer): (type: number, payload: Buffer) => void {
  return (type, payload) => {
    switch (type) {
      case F.PING:
        return;
      case F.READY:
        mesh.ready(p);
        return;
      case F.GOODBYE:
        // A rank that leaves because of an abort says why: its peers then name the root cause.
        if (payload.length > 0) ctl.abort(peerReason(p.rank, payload));
        p.goodbye = payload;
        if (p.backlog.length === 0) left(p);
        return;
      case F.ABORT:
        ctl.abort(peerReason(p.rank, payload));
        return;
      case F.PROGQ: {
        const ans = Buffer.alloc(12);
        payload.copy(ans, 0, 0, 8);
        ans.writeInt32LE(ctl.getProgress(d.rank, payload.readUInt32LE(4)), 8);
        p.send(F.PROGR, ans);
        return;
      }
      case F.PROGR:
        queries.answer(p.rank, payload.readUInt32LE(0), payload.readInt32LE(8));
        return;
      default:
        throw new CommError(`malformed frame: unexpected type ${type} from rank ${p.rank}`);
    }
  };
}

function left(p: Peer): void {
  ctl.setPeerState(p.rank, PEER_LEFT);
  ctl.ring(d.rank);
}

function peerGone(p: Peer, why: string): void {
  if (p.gone) return;
  p.gone = true;
  p.destroy();
  if (closing) return;
  queries.checkDone();
  if (p.goodbye !== null) {
    if (p.backlog.length === 0) left(p);
    return;
  }
  // The reason first: a rank that sees the state first would otherwise store its own, vaguer one.
  ctl.abort(new PeerDiedError(`rank ${p.rank} died (${why})`, p.rank));
  ctl.setPeerState(p.rank, PEER_DEAD);
  pump();
}

function closedWhy(e: NodeJS.ErrnoException): string {
  return e.code === 'ECONNRESET' || e.code === 'EPIPE'
    ? `connection closed (${e.code})`
    : `connection error: ${e.message}`;
}

function feedOrClose(p: Peer, c: Conn, chunk: Buffer): void {
  try {
    c.parser.feed(chunk);
  } catch (e) {
    peerGone(p, `connection closed after a malformed frame: ${(e as Error).message}`);
  }
}

/**
 * The receiving connection is the one whose end tells us the peer is gone: its GOODBYE arrives in
 * order after the peer's last data. The sending one closing alone (the peer's FIN may overtake its
 * GOODBYE on the other connection) only stops our writes; heartbeats bound the rest.
 */
function attachRx(p: Peer, c: Conn, reads: RxReads, stage: Buffer): void {
  p.rx = c.s;
  c.s.on('close', () => peerGone(p, 'connection closed'));
  c.s.on('error', (e: NodeJS.ErrnoException) => peerGone(p, closedWhy(e)));
  try {
    c.takeOver(p.rxHandler(control(p)));
  } catch (e) {
    peerGone(p, `connection closed after a malformed frame: ${(e as Error).message}`);
  }
  reads.next = () => (p.gone ? stage : p.nextRead(c.parser, stage));
  reads.sink = (buf, n) => {
    rxCount++;
    if (buf === stage) feedOrClose(p, c, stage.subarray(0, n));
    else p.readDirect(c.parser, n);
  };
  mesh.maybeComplete(p);
}

function attachTx(p: Peer, c: Conn): void {
  p.tx = c.s;
  c.s.on('data', (chunk: Buffer) => feedOrClose(p, c, chunk));
  c.s.on('close', () => (p.writable = false));
  c.s.on('error', () => (p.writable = false));
  try {
    c.takeOver(p.txHandler(control(p)));
  } catch (e) {
    peerGone(p, `connection closed after a malformed frame: ${(e as Error).message}`);
  }
  mesh.maybeComplete(p);
}

const mesh = new Mesh(d, peers, {
  peer,
  attachRx,
  attachTx,
  publishDirect: (p, fd) => Atomics.store(i32, ctl.doorbellIndex(p.rank) + DIRECT_FD, fd + 1),
  closing: () => closing,
});

// ---- the pump: runs whenever the rank rings our doorbell
function pump(): void {
  for (const p of peers) {
    if (!p || p.gone) continue;
    if (p.direct === null) p.pumpOut();
    if (p.backlog.length > 0 && p.drainBacklog() && p.goodbye !== null) left(p);
  }
  if (!abortSent && ctl.aborted()) {
    abortSent = true;
    sendAbort(ctl.abortError()!);
  }
  if (Atomics.load(query, Q_STATE) === 1) queries.start();
}

/**
 * Tell every peer why we abort, on both connections: the receiving one carries nothing else our
 * way, so the reason reaches the kernel at once even when bulk data fills the sending one. The
 * rank may exit right after (it waits for Q_ABORT_SENT), so signal only once the kernel has it.
 */
function sendAbort(e: CommError): void {
  const body = Buffer.from(JSON.stringify(serializeCommError(e)));
  let waiting = 1;
  const done = (): void => {
    if (--waiting > 0) return;
    Atomics.store(query, Q_ABORT_SENT, 1);
    Atomics.notify(query, Q_ABORT_SENT);
  };
  for (const p of peers) {
    if (!p || p.gone) continue;
    p.send(F.ABORT, body);
    if (p.rx !== null && !p.rx.destroyed) {
      waiting++;
      writeFrame(p.rx, F.ABORT, body, done);
    }
  }
  done();
}

const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, i: number, v: number, ms: number): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function loop(): Promise<void> {
  const di = ctl.doorbellIndex(workerSlot);
  const si = ctl.sleepIndex(workerSlot);
  const pollMs = d.pollUs / 1000;
  while (!closing) {
    const v = Atomics.load(i32, di);
    pump();
    // While the rank has a collective in flight, poll (event-loop turns: sockets are polled with a
    // zero timeout) instead of sleeping: no wake-up on the path of the next send or the peer's
    // reply. Bounded: after pollUs without a read or a doorbell, sleep as usual.
    let rang = false;
    if (pollMs > 0 && relayed) {
      let idleSince = performance.now();
      let seen = rxCount;
      while (Atomics.load(query, Q_BUSY) > 0 && !ctl.aborted() && !closing) {
        const t = performance.now();
        if (rxCount !== seen) {
          seen = rxCount;
          idleSince = t;
        } else if (t - idleSince >= pollMs) break;
        await nextTurn();
        if (Atomics.load(i32, di) !== v) {
          rang = true;
          break;
        }
      }
    }
    if (rang) continue;
    Atomics.add(i32, si, 1);
    const r = waitAsync(i32, di, v, 500);
    if (r.async) await r.value;
    Atomics.sub(i32, si, 1);
  }
}

let lastTick = now();
function heartbeat(): void {
  const t = now();
  const starved = t - lastTick > 2 * HEARTBEAT_MS; // we were not scheduled: do not blame the peers
  lastTick = t;
  for (const p of peers) {
    if (!p || p.gone) continue;
    if (t - p.lastSent >= HEARTBEAT_MS && p.writable) p.send(F.PING);
    if (!starved && p.backlog.length === 0 && t - p.lastRecv > d.peerTimeoutMs)
      peerGone(p, `no data or heartbeat for ${t - p.lastRecv} ms`);
  }
}

async function close(): Promise<void> {
  closing = true;
  // After an abort the goodbye carries its reason, so peers name the root cause, not us.
  const ab = ctl.abortError();
  const why = ab === null ? undefined : Buffer.from(JSON.stringify(serializeCommError(ab)));
  const flushed: Promise<void>[] = [];
  for (const p of peers) {
    if (!p || p.gone) continue;
    p.send(F.GOODBYE, why);
    for (const s of [p.tx, p.rx, p.direct]) {
      if (s === null || s.destroyed) continue;
      flushed.push(new Promise<void>((resolve) => s.end(resolve)));
    }
  }
  await mesh.closeServers();
  // Let the goodbyes reach the kernel (bounded), then let the thread end.
  await Promise.race([Promise.all(flushed), new Promise((r) => setTimeout(r, 500))]);
  for (const p of peers) {
    p?.destroy();
    p?.direct?.destroy(); // the rank detached its descriptors before asking us to close
  }
  parentPort!.postMessage({ type: 'closed' });
  process.exit(0);
}

parentPort!.on('message', (m: { type: string }) => {
  if (m.type === 'close') void close();
});

mesh.rendezvous().then(
  () => {
    relayed = peers.some((p) => p !== undefined && p.direct === null);
    parentPort!.postMessage({ type: 'ready' });
    setInterval(heartbeat, HEARTBEAT_MS);
    void loop();
  },
  (e) => {
    const err = toRankError(e);
    parentPort!.postMessage({ type: 'error', error: err });
    void mesh.closeServers();
  },
);
