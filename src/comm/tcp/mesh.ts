// A TCP comm worker's connection set-up: rendezvous at the store, listeners, authenticated mesh and direct sockets, the
// READY barrier.
import { createServer, type Server, type Socket } from 'node:net';
import { AuthError, CommError } from '../../errors.js';
import { releaseToRank } from './direct.js';
import { Conn, F, acceptHandshake, connectHandshake } from './frames.js';
import { isLoopback } from './layout.js';
import { RX_STAGE_BYTES, type Peer } from './peer.js';
import { StoreServer, TCPStore, open } from './store.js';

const HANDSHAKE_MS = 10_000;

export interface MeshConfig {
  rank: number;
  size: number;
  token: string;
  masterAddr: string;
  masterPort: number;
  listenAddr: string | null;
  rendezvousTimeoutMs: number;
  /** This rank's thread can read and write sockets itself (pairs where both can use a direct socket). */
  direct: boolean;
}

/**
 * Where the receiving socket's reads go: to the handshake as 'data' events first, then to the peer (frame parser, or
 * the inbox directly).
 */
export interface RxReads {
  sink: ((buf: Uint8Array, n: number) => void) | null;
  next: (() => Uint8Array) | null;
}

/** What the mesh needs from the worker: its peer records and how it takes connections over. */
export interface MeshHooks {
  peer(rank: number): Peer;
  /** An authenticated connection this rank opened: the peer's frames arrive on it. */
  attachRx(p: Peer, c: Conn, reads: RxReads, stage: Buffer): void;
  /** An authenticated connection the peer opened: our frames leave on it. */
  attachTx(p: Peer, c: Conn): void;
  /** An authenticated direct socket's descriptor, for the rank's thread. */
  publishDirect(p: Peer, fd: number): void;
  closing(): boolean;
}

export class Mesh {
  private storeServer: StoreServer | null = null;
  private server: Server | null = null;
  private directServer: Server | null = null;
  private connected = 0;
  private onAllConnected: (() => void) | null = null;
  private readyPeers = 0;
  private onAllReady: (() => void) | null = null;

  constructor(
    private readonly d: MeshConfig,
    private readonly peers: readonly (Peer | undefined)[],
    private readonly hooks: MeshHooks,
  ) {}

  /** Count a peer whose connections are all up (call after each attach). */
  maybeComplete(p: Peer): void {
    if (p.counted || !p.complete) return;
    p.counted = true;
    if (++this.connected === this.d.size - 1) this.onAllConnected?.();
  }

  /** The peer said READY. */
  ready(p: Peer): void {
    if (p.ready) return;
    p.ready = true;
    if (++this.readyPeers === this.d.size - 1) this.onAllReady?.();
  }

  /**
   * Meet every rank: publish our listeners at the store, connect, then the READY barrier; bounded by the rendezvous
   * timeout.
   */
  async rendezvous(): Promise<void> {
    const d = this.d;
    const deadline = Date.now() + d.rendezvousTimeoutMs;
    const left = (): number => Math.max(1, deadline - Date.now());
    let failAuth: (e: AuthError) => void = () => {};
    const authFailed = new Promise<never>((_, reject) => (failAuth = reject));
    authFailed.catch(() => {});
    let met = false;
    if (d.rank === 0) {
      const bind =
        d.listenAddr !== null && (d.listenAddr === '0.0.0.0' || d.listenAddr === '::') ? d.listenAddr : d.masterAddr;
      // A failed handshake from a client that claims to be a rank of this world, which has not
      // authenticated yet, is that rank with another token: fail now, naming it, instead of at the
      // rendezvous timeout. Anything else (a scanner, a replayed frame) is only refused.
      // (Past the claim, the handshake checks only the proof of the token.)
      this.storeServer = await StoreServer.listen(bind, d.masterPort, d.token, (from, claim, _err, known) => {
        if (met || claim === null || claim.size !== d.size || claim.rank < 1 || claim.rank >= d.size || known) return;
        const who = `${from}, claiming to be rank ${claim.rank} of ${d.size},`;
        const why = 'failed authentication at the store: token mismatch (SYNCBN_TOKEN differs)';
        failAuth(new AuthError(`rank 0: rendezvous failed: ${who} ${why}`));
      });
    }
    const me = { rank: d.rank, size: d.size }; // claimed in the handshake: rank 0 names a rank whose token differs
    const store = await TCPStore.connect(d.masterAddr, d.masterPort, {
      token: d.token,
      timeoutMs: d.rendezvousTimeoutMs,
      ...me,
    });
    const local = store.socket.localAddress ?? '127.0.0.1';
    const listenHost = d.listenAddr ?? (isLoopback(d.masterAddr) ? '127.0.0.1' : local);
    const all = new Promise<void>((resolve) => (this.onAllConnected = resolve));
    if (d.size - 1 === 0) this.onAllConnected!();
    this.server = await listen(listenHost, d.rank, (s) => void this.acceptMesh(s));
    const port = (this.server.address() as { port: number }).port;
    let dport: number | undefined;
    if (d.direct) {
      this.directServer = await listen(listenHost, d.rank, (s) => void this.acceptDirect(s));
      dport = (this.directServer.address() as { port: number }).port;
    }
    const advertise = listenHost === '0.0.0.0' || listenHost === '::' ? local : listenHost;
    await store.set(`syncbn/addr/${d.rank}`, JSON.stringify({ host: advertise, port, dport }));
    // Every rank opens one connection to every other rank: the one it receives on.
    const others = [...Array(d.size).keys()].filter((q) => q !== d.rank);
    const opened = Promise.all(
      others.map(async (q) => {
        // Waits past the deadline: the rendezvous timer below fires first and names every missing rank.
        const rec = JSON.parse(await store.get(`syncbn/addr/${q}`, left() + 1000)) as {
          host: string;
          port: number;
          dport?: number;
        };
        // A pair uses a direct socket when both ranks can; the lower rank opens it.
        const p = this.hooks.peer(q);
        p.wantDirect = d.direct && rec.dport !== undefined;
        this.maybeComplete(p);
        await this.connectMesh(q, rec.host, rec.port, left());
        if (p.wantDirect && q > d.rank) await this.connectDirect(q, rec.host, rec.dport!, left());
      }),
    );
    opened.catch(() => {}); // a failure after the timeout is moot
    // Then a barrier: a rank says READY once it has taken over its direct sockets, and its peers
    // send on them only after that, so no data byte is ever read by the worker's event loop.
    const ready = new Promise<void>((resolve) => (this.onAllReady = resolve));
    if (d.size - 1 === 0 || this.readyPeers === d.size - 1) this.onAllReady!();
    const connectedThenReady = Promise.all([all, opened]).then(() => {
      for (const p of this.peers) p?.send(F.READY);
      return ready;
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        connectedThenReady,
        authFailed,
        new Promise<void>((_, reject) => {
          timer = setTimeout(() => {
            const others = [...Array(d.size).keys()].filter((r) => r !== d.rank);
            let missing = others.filter((r) => this.peers[r]?.complete !== true);
            if (missing.length === 0) missing = others.filter((r) => this.peers[r]?.ready !== true);
            reject(
              new CommError(
                `rank ${d.rank}: rendezvous timed out after ${d.rendezvousTimeoutMs} ms: ranks ` +
                  `${missing.join(', ')} never connected`,
              ),
            );
          }, left());
        }),
      ]);
    } finally {
      clearTimeout(timer);
      met = true;
    }
    store.close();
  }

  async closeServers(): Promise<void> {
    this.server?.close();
    this.directServer?.close();
    await this.storeServer?.close();
  }

  private async connectMesh(q: number, host: string, port: number, timeoutMs: number): Promise<void> {
    const reads: RxReads = { sink: null, next: null };
    const stage = Buffer.allocUnsafe(RX_STAGE_BYTES);
    const s: Socket = await open(host, port, timeoutMs, {
      buffer: () => (reads.next === null ? stage : reads.next()),
      callback(n, buf) {
        if (reads.sink !== null) reads.sink(buf, n);
        else s.emit('data', Buffer.from(stage.subarray(0, n))); // the handshake's reader keeps what it is given
        return true;
      },
    });
    s.on('error', () => {});
    const c = new Conn(s);
    await connectHandshake(c, this.d.token, { purpose: 'mesh', rank: this.d.rank, size: this.d.size }, HANDSHAKE_MS);
    this.hooks.attachRx(this.hooks.peer(q), c, reads, stage);
  }

  private async connectDirect(q: number, host: string, port: number, timeoutMs: number): Promise<void> {
    const s = await open(host, port, timeoutMs);
    s.on('error', () => {});
    const c = new Conn(s);
    await connectHandshake(c, this.d.token, { purpose: 'direct', rank: this.d.rank, size: this.d.size }, HANDSHAKE_MS);
    this.attachDirect(this.hooks.peer(q), c);
  }

  private attachDirect(p: Peer, c: Conn): void {
    const fd = releaseToRank(c.s, c.leftover);
    p.direct = c.s;
    this.hooks.publishDirect(p, fd);
    this.maybeComplete(p);
  }

  private acceptMesh(s: Socket): Promise<void> {
    return this.accept(s, 'mesh', (rank, c) => {
      if (rank === this.d.rank || rank >= this.d.size || this.peers[rank]?.tx != null)
        throw new CommError(`unexpected peer rank ${rank}`);
      this.hooks.attachTx(this.hooks.peer(rank), c);
    });
  }

  private acceptDirect(s: Socket): Promise<void> {
    return this.accept(s, 'direct', (rank, c) => {
      // The lower rank of a pair connects; one direct socket per pair.
      if (rank >= this.d.rank || this.peers[rank]?.direct != null)
        throw new CommError(`unexpected direct connection from rank ${rank}`);
      this.attachDirect(this.hooks.peer(rank), c);
    });
  }

  private async accept(s: Socket, purpose: 'mesh' | 'direct', take: (rank: number, c: Conn) => void): Promise<void> {
    s.on('error', () => {});
    const c = new Conn(s);
    try {
      const h = await acceptHandshake(c, this.d.token, { purpose, size: this.d.size }, HANDSHAKE_MS);
      take(h.rank, c);
    } catch (e) {
      setTimeout(() => s.destroy(), 1000).unref();
      if (!this.hooks.closing())
        process.stderr.write(
          `syncbn rank ${this.d.rank}: rejected a connection from ${s.remoteAddress}:${s.remotePort}: ` +
            `${(e as Error).message}\n`,
        );
    }
  }
}

async function listen(host: string, rank: number, onConn: (s: Socket) => void): Promise<Server> {
  const server = createServer({ noDelay: true }, onConn);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new CommError(`rank ${rank}: cannot listen on ${host}: ${e.message}`)));
    server.listen(0, host, () => resolve());
  });
  return server;
}
