// The TCP data path on a rank's own thread: non-blocking read(2)/write(2) between its rings and one socket per peer.
import { readSync, writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { CommError } from '../../errors.js';
import type { Ring } from '../ring.js';

/**
 * The pump stops filling an inbox that holds this much unconsumed: the rest of a large payload stays
 * in the kernel until its receiver reads it straight to its use (readInto) instead of via the ring.
 */
const INBOX_READ_MAX = 256 << 10;

/**
 * Why the rank moves its own bytes: relaying through the comm worker costs two thread hand-offs per
 * message each way (a futex wake is ~80 µs at the median on a 2-vCPU VM) and a thread that competes
 * with the ranks for cores. With the socket on the rank's thread a 129-float exchange is a write and
 * a read. The comm worker still owns the connection setup, heartbeats, aborts and the close; it
 * hands over a socket it authenticated and stopped reading, and never closes it while the rank may
 * use it (a closed descriptor's number can be reused by another file).
 *
 * The socket is non-blocking (libuv made it so): a read or write that would block throws EAGAIN,
 * which is the common case while polling, so errors are created without a stack (4.4 vs 7.5 µs).
 */
export class DirectLink {
  /** The peer shut down its sending side: it closed or exited (its worker tells which). */
  eof = false;
  /** The error code once the connection failed (reset, broken pipe): the worker decides what the peer is. */
  broken: string | null = null;
  /** When (performance.now()) the link saw end of stream or failed; 0 while it works. */
  endedAt = 0;
  /** The zero-copy write under way (see write): its source and the range still to go. */
  private zsrc: Uint8Array | null = null;
  private zoff = 0;
  private zend = 0;
  /** The zero-copy read under way (see readInto): its destination and the range still to come. */
  private rdst: Uint8Array | null = null;
  private rdoff = 0;
  private rdend = 0;
  /** Bytes read into the inbox past its head, not yet published (the ring publishes 8-byte units). */
  private unpub = 0;

  constructor(
    readonly peer: number,
    private fd: number,
    private readonly out: Ring,
    private readonly inbox: Ring,
  ) {}

  get usable(): boolean {
    return this.fd >= 0 && this.broken === null;
  }

  /** Write what the outbox holds until it is empty or the socket's buffer is full; true if any bytes left. */
  send(): boolean {
    const r = this.out;
    let moved = false;
    if (this.zsrc !== null) {
      // A zero-copy write goes first: outbox bytes were queued after it began.
      moved = this.sendZero();
      if (this.zoff < this.zend) return moved;
    }
    while (this.fd >= 0 && this.broken === null) {
      const pending = r.pending();
      if (pending === 0) break;
      const pos = r.tail() & r.mask;
      const n = Math.min(pending, r.cap - pos);
      const w = this.io(false, r.data, pos, n);
      if (w <= 0) break;
      r.consume(w);
      moved = true;
      if (w < n) break; // the socket's buffer is full
    }
    return moved;
  }

  /**
   * Start (outbox empty, none under way) or go on with the zero-copy write of `src[off, end)`;
   * returns the offset it has reached in `src`, or `off` when another write holds the socket.
   */
  write(src: Uint8Array, off: number, end: number): number {
    if (this.zsrc === null) {
      if (this.out.pending() !== 0 || off >= end) return off;
      this.zsrc = src;
      this.zoff = off;
      this.zend = end;
    } else if (this.zsrc !== src) return off;
    this.sendZero();
    const at = this.zoff;
    if (at >= this.zend) this.zsrc = null;
    return at;
  }

  private sendZero(): boolean {
    const at = this.stream(false, this.zsrc!, this.zoff, this.zend);
    const moved = at > this.zoff;
    this.zoff = at;
    return moved;
  }

  /**
   * Start (inbox empty) or go on with the zero-copy read into `dst[off, end)`; returns the offset
   * reached, or `off` when it cannot start yet (published bytes come first, or another read holds it).
   */
  readInto(dst: Uint8Array, off: number, end: number): number {
    if (this.rdst === null) {
      const r = this.inbox;
      if (r.avail() !== 0 || off >= end) return off;
      // The stream's next bytes may be a partial 8-byte unit already read into the inbox.
      if (this.unpub > 0) r.peekInto(dst.subarray(off, off + this.unpub), this.unpub);
      this.rdst = dst;
      this.rdoff = off + this.unpub;
      this.rdend = end;
      this.unpub = 0;
    } else if (this.rdst !== dst) return off;
    this.recvZero();
    const at = this.rdoff;
    if (at >= this.rdend) this.rdst = null;
    return at;
  }

  private recvZero(): boolean {
    const at = this.stream(true, this.rdst!, this.rdoff, this.rdend);
    const moved = at > this.rdoff;
    this.rdoff = at;
    return moved;
  }

  /** Read or write `buf[at, end)` until done, the call would block or the stream ended; the offset reached. */
  private stream(read: boolean, buf: Uint8Array, at: number, end: number): number {
    while (at < end && this.fd >= 0 && this.broken === null && !(read && this.eof)) {
      const n = end - at;
      const k = this.io(read, buf, at, n);
      if (k < 0) break;
      if (k === 0) {
        if (read) this.ended(true);
        break;
      }
      at += k;
      if (k < n) break; // the socket had no more (read) or no more room (write)
    }
    return at;
  }

  /** Read into the inbox's free space until the socket is empty or the inbox full; true if bytes arrived. */
  recv(): boolean {
    const r = this.inbox;
    let moved = false;
    if (this.rdst !== null) {
      // A zero-copy read takes the stream's next bytes. What follows it waits in the kernel until
      // its reader has collected it (readInto): the reader may then start another one at once.
      return this.rdoff < this.rdend && this.recvZero();
    }
    while (this.fd >= 0 && this.broken === null && !this.eof) {
      const pos = (r.head() + this.unpub) & r.mask;
      const room = Math.min(r.free() - this.unpub, r.cap - pos, INBOX_READ_MAX - r.avail() - this.unpub);
      if (room <= 0) break;
      const n = this.io(true, r.data, pos, room);
      if (n < 0) break;
      if (n === 0) {
        this.ended(true);
        break;
      }
      this.unpub += n;
      const whole = this.unpub & ~7;
      if (whole > 0) {
        r.publish(whole);
        this.unpub -= whole;
        moved = true;
      }
      if (n < room) break; // drained what the kernel had
    }
    return moved;
  }

  private ended(eof: boolean): void {
    if (eof) this.eof = true;
    if (this.endedAt === 0) this.endedAt = performance.now();
  }

  /** Stop using the descriptor (the rank leaves; its worker will close it). */
  detach(): void {
    this.fd = -1;
    this.zsrc = null;
    this.rdst = null;
  }

  /**
   * Bytes moved (0 on read: end of stream), −1 when the call would block, −2 when the connection failed (the link is
   * broken).
   */
  private io(read: boolean, buf: Uint8Array, off: number, n: number): number {
    const lim = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return read ? readSync(this.fd, buf, off, n, null) : writeSync(this.fd, buf, off, n);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') return -1;
      this.broken = code ?? (e as Error).message;
      this.ended(false);
      return -2;
    } finally {
      Error.stackTraceLimit = lim;
    }
  }
}

/** The comm worker's side of the hand-over: what a Node socket exposes of its libuv handle. */
interface TcpHandle {
  fd?: number;
  reading?: boolean;
  readStop?(): number;
}

/**
 * Stop Node reading an authenticated socket and return its descriptor for the rank's thread. Runs
 * before this rank tells its peers READY, and a peer sends on the socket only after that, so no byte
 * of the stream can have been read here; `leftover` (bytes that followed the handshake) proves it.
 */
export function releaseToRank(s: Socket, leftover: Uint8Array | null): number {
  if (leftover !== null && leftover.length > 0)
    throw new CommError(
      `protocol error: ${leftover.length} bytes arrived on a direct connection before this rank was ready`,
    );
  const h = (s as unknown as { _handle?: TcpHandle })._handle;
  if (h === undefined || typeof h.fd !== 'number' || h.fd < 0 || typeof h.readStop !== 'function')
    throw new CommError(
      'this Node.js does not expose socket descriptors: set SYNCBN_TCP_DIRECT=0 on every rank to relay through the ' +
        'comm worker',
    );
  s.pause();
  h.readStop();
  h.reading = true; // net.Socket starts reading again only when this flag is false
  return h.fd;
}
