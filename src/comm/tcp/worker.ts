// The comm worker of a TCP rank: rendezvous, the authenticated socket mesh, relaying rings to sockets, heartbeats, aborts.
import { createServer, type Server, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { CommError, PeerDiedError } from '../../errors.js';
import { PEER_DEAD, PEER_LEFT, deserializeCommError, serializeCommError, type SerializedCommError } from '../control.js';
import { toRankError } from '../outcome.js';
import { Conn, DATA_MAX, F, acceptHandshake, connectHandshake, frameHeader, writeFrame, type FrameHandler } from './frames.js';
import { INBOX_BLOCKED, Q_ABORT_SENT, Q_GROUP, Q_RESULTS, Q_STATE, isLoopback, tcpLayout } from './layout.js';
import { StoreServer, TCPStore, open } from './store.js';

export interface WorkerInit {
  sab: SharedArrayBuffer;
  rank: number;
  size: number;
  ringBytes: number;
  token: string;
  masterAddr: string;
  masterPort: number;
  listenAddr: string | null;
  rendezvousTimeoutMs: number;
  peerTimeoutMs: number;
}

const d = workerData as WorkerInit;
const { ctl, query, outs, ins, workerSlot } = tcpLayout(d.sab, d.rank, d.size, d.ringBytes);
const i32 = ctl.i32;
const HANDSHAKE_MS = 10_000;
const HEARTBEAT_MS = Math.max(20, Math.min(250, d.peerTimeoutMs / 5));

class Peer {
  inflight = 0; // bytes handed to the socket, not yet confirmed written
  writable = true;
  unpub = 0; // inbox bytes written but not yet published (< 8, or blocked)
  backlog: Buffer[] = [];
  lastRecv = Date.now();
  lastSent = Date.now();
  goodbye = false;
  gone = false;
  constructor(
    readonly rank: number,
    readonly s: Socket,
  ) {}
}

const peers: (Peer | undefined)[] = [];
let closing = false;
let abortSent = false;
let storeServer: StoreServer | null = null;
let server: Server | null = null;
let connected = 0;
let onAllConnected: (() => void) | null = null;

/**
 * Data-path wake-up: bump the rank's doorbell now (a spinning rank sees it at once) but notify a
 * sleeping one once per event-loop turn, not once per 64 KiB socket read or write completion:
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

// ---- outgoing: outbox ring → DATA frames (the ring space is released when the socket has taken the bytes)
function pumpOut(p: Peer): void {
  const r = outs[p.rank]!;
  while (p.writable && !p.gone) {
    const queued = r.pending() - p.inflight;
    if (queued <= 0) return;
    const pos = (r.tail() + p.inflight) & r.mask;
    const n = Math.min(queued, r.cap - pos, DATA_MAX);
    p.inflight += n;
    p.s.cork();
    p.s.write(frameHeader(F.DATA, n));
    const ok = p.s.write(new Uint8Array(r.sab, r.dataOffset + pos, n), () => {
      r.consume(n);
      p.inflight -= n;
      wakeRank(); // the rank may wait for outbox space or for its bytes to leave
    });
    p.s.uncork();
    p.lastSent = now();
    if (!ok) {
      p.writable = false;
      p.s.once('drain', () => {
        p.writable = true;
        pumpOut(p);
      });
    }
  }
}

// ---- incoming: DATA payload → inbox ring, publishing whole 8-byte units; a full inbox pauses the socket
function deliver(p: Peer, piece: Buffer): boolean {
  const r = ins[p.rank]!;
  const room = r.free() - p.unpub;
  const n = Math.min(room, piece.length);
  if (n > 0) {
    r.writeAt(p.unpub, n === piece.length ? piece : piece.subarray(0, n));
    p.unpub += n;
    const whole = p.unpub & ~7;
    if (whole > 0) {
      r.publish(whole);
      p.unpub -= whole;
      wakeRank();
    }
  }
  if (n < piece.length) {
    p.backlog.push(piece.subarray(n));
    return false;
  }
  return true;
}

function drainBacklog(p: Peer): void {
  while (p.backlog.length > 0) {
    const b = p.backlog.shift()!;
    if (!deliver(p, b)) {
      // deliver() re-queued the rest at the back; move it to the front to keep order
      p.backlog.unshift(p.backlog.pop()!);
      return;
    }
  }
  Atomics.store(i32, ctl.doorbellIndex(p.rank) + INBOX_BLOCKED, 0);
  p.lastRecv = now();
  if (p.goodbye) {
    ctl.setPeerState(p.rank, PEER_LEFT);
    ctl.ring(d.rank);
  }
  p.s.resume();
}

function handlerFor(p: Peer): FrameHandler {
  return {
    data(piece) {
      p.lastRecv = now();
      if (p.backlog.length > 0) {
        p.backlog.push(piece); // already blocked: keep order
        return;
      }
      if (deliver(p, piece)) return;
      p.s.pause();
      // Raise the flag, then look again: the rank may have made room before it could see the flag.
      Atomics.store(i32, ctl.doorbellIndex(p.rank) + INBOX_BLOCKED, 1);
      drainBacklog(p);
    },
    frame(type, payload) {
      p.lastRecv = now();
      switch (type) {
        case F.PING:
          return;
        case F.GOODBYE:
          p.goodbye = true;
          if (p.backlog.length === 0) {
            ctl.setPeerState(p.rank, PEER_LEFT);
            ctl.ring(d.rank);
          }
          return;
        case F.ABORT: {
          const e = deserializeCommError(JSON.parse(payload.toString('utf8')) as SerializedCommError);
          ctl.abort(e);
          return;
        }
        case F.PROGQ: {
          const ans = Buffer.alloc(12);
          payload.copy(ans, 0, 0, 8);
          ans.writeInt32LE(ctl.getProgress(d.rank, payload.readUInt32LE(4)), 8);
          writeFrame(p.s, F.PROGR, ans);
          return;
        }
        case F.PROGR:
          onProgress(p.rank, payload.readUInt32LE(0), payload.readInt32LE(8));
          return;
        default:
          throw new CommError(`malformed frame: unexpected type ${type} from rank ${p.rank}`);
      }
    },
  };
}

function peerGone(p: Peer, why: string): void {
  if (p.gone) return;
  p.gone = true;
  p.s.destroy();
  if (closing) return;
  if (p.goodbye) {
    ctl.setPeerState(p.rank, PEER_LEFT);
    ctl.ring(d.rank);
    return;
  }
  ctl.setPeerState(p.rank, PEER_DEAD);
  ctl.abort(new PeerDiedError(`rank ${p.rank} died (${why})`, p.rank));
  pump();
}

function attach(rank: number, c: Conn): void {
  const p = new Peer(rank, c.s);
  peers[rank] = p;
  c.s.setNoDelay(true);
  c.s.on('data', (chunk: Buffer) => {
    try {
      c.parser.feed(chunk);
    } catch (e) {
      peerGone(p, `connection closed after a malformed frame: ${(e as Error).message}`);
    }
  });
  c.s.on('close', () => peerGone(p, 'connection closed'));
  c.s.on('error', (e: NodeJS.ErrnoException) => peerGone(p, e.code === 'ECONNRESET' || e.code === 'EPIPE' ? `connection closed (${e.code})` : `connection error: ${e.message}`));
  try {
    c.takeOver(handlerFor(p));
  } catch (e) {
    peerGone(p, `connection closed after a malformed frame: ${(e as Error).message}`);
  }
  if (++connected === d.size - 1) onAllConnected?.();
}

// ---- progress queries (for timeout messages: who never arrived)
let queryId = 0;
let queryTimer: NodeJS.Timeout | null = null;
const answers = new Map<number, number>();

function startQuery(): void {
  if (queryTimer !== null) return;
  const qid = ++queryId;
  const group = Atomics.load(query, Q_GROUP) >>> 0;
  answers.clear();
  const ask = Buffer.alloc(8);
  ask.writeUInt32LE(qid, 0);
  ask.writeUInt32LE(group, 4);
  for (const p of peers) if (p && !p.gone) writeFrame(p.s, F.PROGQ, ask);
  queryTimer = setTimeout(finishQuery, 1000);
  checkQueryDone();
}

function onProgress(rank: number, qid: number, seq: number): void {
  if (qid !== queryId || queryTimer === null) return;
  answers.set(rank, seq);
  checkQueryDone();
}

function checkQueryDone(): void {
  for (const p of peers) if (p && !p.gone && !answers.has(p.rank)) return;
  finishQuery();
}

function finishQuery(): void {
  if (queryTimer !== null) clearTimeout(queryTimer);
  queryTimer = null;
  for (let r = 0; r < d.size; r++) Atomics.store(query, Q_RESULTS + r, answers.get(r) ?? -1);
  Atomics.store(query, Q_STATE, 2);
  ctl.ring(d.rank);
}

// ---- the pump: runs whenever the rank rings our doorbell
function pump(): void {
  for (const p of peers) {
    if (!p || p.gone) continue;
    pumpOut(p);
    if (p.backlog.length > 0) drainBacklog(p);
  }
  if (!abortSent && ctl.aborted()) {
    abortSent = true;
    const e = ctl.abortError()!;
    const body = Buffer.from(JSON.stringify(serializeCommError(e)));
    for (const p of peers) if (p && !p.gone) writeFrame(p.s, F.ABORT, body);
    Atomics.store(query, Q_ABORT_SENT, 1);
    Atomics.notify(query, Q_ABORT_SENT);
  }
  if (Atomics.load(query, Q_STATE) === 1) startQuery();
}

const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, ms: number): { async: boolean; value: Promise<string> | string } }).waitAsync;

async function loop(): Promise<void> {
  const di = ctl.doorbellIndex(workerSlot);
  const si = ctl.sleepIndex(workerSlot);
  while (!closing) {
    const v = Atomics.load(i32, di);
    pump();
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
    if (t - p.lastSent >= HEARTBEAT_MS && p.writable) {
      writeFrame(p.s, F.PING);
      p.lastSent = t;
    }
    if (!starved && p.backlog.length === 0 && t - p.lastRecv > d.peerTimeoutMs) peerGone(p, `no data or heartbeat for ${t - p.lastRecv} ms`);
  }
}

// ---- rendezvous
async function rendezvous(): Promise<void> {
  const deadline = now() + d.rendezvousTimeoutMs;
  if (d.rank === 0) {
    const bind = d.listenAddr !== null && (d.listenAddr === '0.0.0.0' || d.listenAddr === '::') ? d.listenAddr : d.masterAddr;
    storeServer = await StoreServer.listen(bind, d.masterPort, d.token);
  }
  const store = await TCPStore.connect(d.masterAddr, d.masterPort, { token: d.token, timeoutMs: d.rendezvousTimeoutMs });
  const local = store.socket.localAddress ?? '127.0.0.1';
  const listenHost = d.listenAddr ?? (isLoopback(d.masterAddr) ? '127.0.0.1' : local);
  const all = new Promise<void>((resolve) => (onAllConnected = resolve));
  if (d.size - 1 === 0) onAllConnected!();
  server = createServer({ noDelay: true }, (s) => void acceptPeer(s));
  await new Promise<void>((resolve, reject) => {
    server!.once('error', (e) => reject(new CommError(`rank ${d.rank}: cannot listen on ${listenHost}: ${e.message}`)));
    server!.listen(0, listenHost, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const advertise = listenHost === '0.0.0.0' || listenHost === '::' ? local : listenHost;
  await store.set(`syncbn/addr/${d.rank}`, JSON.stringify({ host: advertise, port }));
  for (let q = 0; q < d.rank; q++) {
    const { host, port: pp } = JSON.parse(await store.get(`syncbn/addr/${q}`, Math.max(1, deadline - now()))) as { host: string; port: number };
    const s = await open(host, pp, Math.max(1, deadline - now()));
    s.on('error', () => {});
    const c = new Conn(s);
    await connectHandshake(c, d.token, { purpose: 'mesh', rank: d.rank, size: d.size }, HANDSHAKE_MS);
    attach(q, c);
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    all,
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => {
        const missing = [...Array(d.size).keys()].filter((r) => r !== d.rank && peers[r] === undefined);
        reject(new CommError(`rank ${d.rank}: rendezvous timed out after ${d.rendezvousTimeoutMs} ms: ranks ${missing.join(', ')} never connected`));
      }, Math.max(1, deadline - now()));
    }),
  ]);
  clearTimeout(timer);
  store.close();
}

async function acceptPeer(s: Socket): Promise<void> {
  s.on('error', () => {});
  const c = new Conn(s);
  try {
    const h = await acceptHandshake(c, d.token, { purpose: 'mesh', size: d.size }, HANDSHAKE_MS);
    if (h.rank <= d.rank || h.rank >= d.size || peers[h.rank] !== undefined) throw new CommError(`unexpected peer rank ${h.rank}`);
    attach(h.rank, c);
  } catch (e) {
    setTimeout(() => s.destroy(), 1000).unref();
    if (!closing) process.stderr.write(`syncbn rank ${d.rank}: rejected a connection from ${s.remoteAddress}:${s.remotePort}: ${(e as Error).message}\n`);
  }
}

async function close(): Promise<void> {
  closing = true;
  for (const p of peers) {
    if (!p || p.gone) continue;
    writeFrame(p.s, F.GOODBYE);
    p.s.end();
  }
  server?.close();
  await storeServer?.close();
  // Give the goodbyes a moment to flush, then let the thread end.
  await new Promise((r) => setTimeout(r, 20));
  for (const p of peers) p?.s.destroy();
  parentPort!.postMessage({ type: 'closed' });
  process.exit(0);
}

parentPort!.on('message', (m: { type: string }) => {
  if (m.type === 'close') void close();
});

rendezvous().then(
  () => {
    parentPort!.postMessage({ type: 'ready' });
    setInterval(heartbeat, HEARTBEAT_MS);
    void loop();
  },
  (e) => {
    const err = toRankError(e);
    parentPort!.postMessage({ type: 'error', error: err });
    void storeServer?.close();
    server?.close();
  },
);

