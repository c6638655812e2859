// One peer of a TCP rank's comm worker: the socket we send on, the socket we receive on (read into our own buffer),
// relaying the rings.
import type { Socket } from 'node:net';
import { CommError } from '../../errors.js';
import type { Ring } from '../ring.js';
import { DATA_MAX, F, frameHeader, writeFrame, type FrameHandler, type FrameParser } from './frames.js';

/** Bytes read from the receiving socket per read(2) outside data payloads (headers, control frames, a full inbox). */
export const RX_STAGE_BYTES = 256 << 10;
/** Below this much contiguous room, a data payload is read into the staging buffer and copied instead. */
const DIRECT_MIN = 16 << 10;

/** What a peer needs from its worker: the shared rings and how to wake the rank. */
export interface Relay {
  out: Ring;
  in: Ring;
  /** Data moved: wake the rank (coalesced). */
  wake(): void;
  /** The inbox filled (1) or has room again (0): the rank tells the worker when it consumes. */
  setBlocked(on: 0 | 1): void;
  now(): number;
}

/**
 * Two connections per peer pair, one per direction, so that the receiving end is always a socket
 * this rank opened with net.connect: only such sockets accept `onread` (reading into a buffer we
 * own instead of a fresh 64 KiB allocation per read plus stream machinery, which capped a Node
 * socket near 0.37 GB/s on a 2-vCPU VM). `tx` (accepted from the peer) carries our frames to it;
 * `rx` (opened by us) carries its frames to us, and in the other direction only abort reasons,
 * which then never queue behind bulk data.
 */
export class Peer {
  tx: Socket | null = null;
  rx: Socket | null = null;
  inflight = 0; // outbox bytes handed to `tx`, not yet confirmed written
  writable = true;
  unpub = 0; // inbox bytes written but not yet published (< 8, or blocked)
  backlog: Buffer[] = [];
  lastRecv: number;
  lastSent: number;
  goodbye: Buffer | null = null; // the GOODBYE payload once received
  gone = false;
  /** Whether this pair's data goes over a direct socket the ranks' threads use (null: not known yet). */
  wantDirect: boolean | null = null;
  /** That socket, kept open (never read here) until this rank closes: the rank holds its descriptor. */
  direct: Socket | null = null;
  /** The peer said READY: it has taken over its direct sockets. */
  ready = false;
  counted = false;

  constructor(
    readonly rank: number,
    private readonly relay: Relay,
  ) {
    this.lastRecv = this.lastSent = relay.now();
  }

  get complete(): boolean {
    return (
      this.tx !== null && this.rx !== null && this.wantDirect !== null && (!this.wantDirect || this.direct !== null)
    );
  }

  // ---- outgoing: outbox ring → DATA frames (the ring space is released when the socket has taken the bytes)
  pumpOut(): void {
    const r = this.relay.out;
    const s = this.tx;
    if (s === null) return;
    while (this.writable && !this.gone) {
      const queued = r.pending() - this.inflight;
      if (queued <= 0) return;
      const pos = (r.tail() + this.inflight) & r.mask;
      const n = Math.min(queued, r.cap - pos, DATA_MAX);
      this.inflight += n;
      s.cork();
      s.write(frameHeader(F.DATA, n));
      const ok = s.write(new Uint8Array(r.sab, r.dataOffset + pos, n), () => {
        r.consume(n);
        this.inflight -= n;
        this.relay.wake(); // the rank may wait for outbox space or for its bytes to leave
      });
      s.uncork();
      this.lastSent = this.relay.now();
      if (!ok) {
        this.writable = false;
        s.once('drain', () => {
          this.writable = true;
          this.pumpOut();
        });
      }
    }
  }

  send(type: number, payload?: Uint8Array): void {
    if (this.tx === null || this.gone) return;
    writeFrame(this.tx, type, payload);
    this.lastSent = this.relay.now();
  }

  // ---- incoming, zero-copy: while inside a DATA frame, read(2) goes straight to the inbox's free space
  /** The buffer for the next read: a view of the inbox past the unpublished bytes, or `stage`. */
  nextRead(parser: FrameParser, stage: Buffer): Uint8Array {
    const left = parser.dataLeft();
    if (left < DIRECT_MIN || this.backlog.length > 0) return stage;
    const r = this.relay.in;
    const pos = (r.head() + this.unpub) & r.mask;
    const n = Math.min(left, r.cap - pos, r.free() - this.unpub);
    return n < DIRECT_MIN ? stage : new Uint8Array(r.sab, r.dataOffset + pos, n);
  }

  /** `n` payload bytes were read into the view nextRead gave: publish whole 8-byte units. */
  readDirect(parser: FrameParser, n: number): void {
    this.lastRecv = this.relay.now();
    parser.skipData(n);
    this.unpub += n;
    const whole = this.unpub & ~7;
    if (whole > 0) {
      this.relay.in.publish(whole);
      this.unpub -= whole;
      this.relay.wake();
    }
  }

  // ---- incoming: DATA payload → inbox ring, publishing whole 8-byte units; a full inbox pauses the socket
  /** Pieces are views into the read buffer, reused by the next read: whatever cannot go to the ring now is copied. */
  private deliver(piece: Buffer): boolean {
    const r = this.relay.in;
    const room = r.free() - this.unpub;
    const n = Math.min(room, piece.length);
    if (n > 0) {
      r.writeAt(this.unpub, n === piece.length ? piece : piece.subarray(0, n));
      this.unpub += n;
      const whole = this.unpub & ~7;
      if (whole > 0) {
        r.publish(whole);
        this.unpub -= whole;
        this.relay.wake();
      }
    }
    if (n < piece.length) {
      this.backlog.push(Buffer.from(piece.subarray(n)));
      return false;
    }
    return true;
  }

  /** Move what waits in the backlog into the inbox; true when it is empty (the socket reads again). */
  drainBacklog(): boolean {
    while (this.backlog.length > 0) {
      const b = this.backlog.shift()!;
      if (!this.deliver(b)) {
        // deliver() queued the rest at the back; move it to the front to keep order
        this.backlog.unshift(this.backlog.pop()!);
        return false;
      }
    }
    this.relay.setBlocked(0);
    this.lastRecv = this.relay.now();
    this.rx?.resume();
    return true;
  }

  /** Frame handler of the receiving socket: data to the inbox, control frames to `control`. */
  rxHandler(control: (type: number, payload: Buffer) => void): FrameHandler {
    return {
      data: (piece) => {
        this.lastRecv = this.relay.now();
        if (this.backlog.length > 0) {
          this.backlog.push(Buffer.from(piece)); // already blocked: keep order
          return;
        }
        if (this.deliver(piece)) return;
        this.rx!.pause();
        // Raise the flag, then look again: the rank may have made room before it could see the flag.
        this.relay.setBlocked(1);
        this.drainBacklog();
      },
      frame: (type, payload) => {
        this.lastRecv = this.relay.now();
        control(type, payload);
      },
    };
  }

  /** Frame handler of the sending socket: the peer sends only control frames (abort reasons) this way. */
  txHandler(control: (type: number, payload: Buffer) => void): FrameHandler {
    return {
      data: () => {
        throw new CommError(`malformed frame: data from rank ${this.rank} on the connection it receives on`);
      },
      frame: (type, payload) => {
        this.lastRecv = this.relay.now();
        control(type, payload);
      },
    };
  }

  destroy(): void {
    this.tx?.destroy();
    this.rx?.destroy();
  }
}
