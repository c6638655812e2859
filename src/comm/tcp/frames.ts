// TCP wire format: length-prefixed typed frames, a bounded incremental parser, and the HMAC challenge-response
// handshake.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { AuthError, CommError } from '../../errors.js';

/** Frame: u32 payload length (LE), u8 type, 3 reserved bytes, payload. */
export const FRAME_HEADER = 8;
export const F = {
  HELLO: 1,
  AUTH: 2,
  AUTH_OK: 3,
  AUTH_FAIL: 4,
  DATA: 5,
  PING: 6,
  ABORT: 7,
  GOODBYE: 8,
  PROGQ: 9,
  PROGR: 10,
  STORE_REQ: 11,
  STORE_RES: 12,
  /** Mesh: this rank has taken its direct sockets over; the peer may start sending on them. */
  READY: 13,
} as const;
const TYPES = new Set<number>(Object.values(F));

/** Before authentication nothing larger than this is read. */
export const PREAUTH_MAX = 256;
/** Control frames (abort reasons, store requests). */
export const CONTROL_MAX = 1 << 20;
/** Data frames: the relay never sends more than this in one frame. */
export const DATA_MAX = 1 << 20;

export function frameHeader(type: number, len: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER);
  h.writeUInt32LE(len, 0);
  h.writeUInt32LE(type, 4);
  return h;
}

/** `done` runs once the frame has been handed to the kernel (or the socket failed). */
export function writeFrame(s: Socket, type: number, payload: Uint8Array = Buffer.alloc(0), done?: () => void): void {
  s.cork();
  if (payload.length === 0) s.write(frameHeader(type, 0), done);
  else {
    s.write(frameHeader(type, payload.length));
    s.write(payload, done);
  }
  s.uncork();
}

export interface FrameHandler {
  /** A piece of a DATA frame's payload (a view into the socket's chunk: copy it before returning). */
  data(piece: Buffer): void;
  /** A complete non-DATA frame. */
  frame(type: number, payload: Buffer): void;
}

/**
 * Incremental parser: DATA payloads stream through without buffering; other frames are collected
 * up to CONTROL_MAX (PREAUTH_MAX before authentication). An unknown type or an over-long frame
 * throws CommError: the caller closes the connection. Memory held is bounded by the limits.
 */
export class FrameParser {
  private head = Buffer.alloc(FRAME_HEADER);
  private headLen = 0;
  private type = 0;
  private left = 0; // payload bytes still to come in the current frame
  private body: Buffer | null = null;
  private bodyLen = 0;
  authenticated = false;

  /** Set by a handler to stop after the current frame: feed then returns the unparsed rest. */
  hold = false;

  constructor(public h: FrameHandler) {}

  feed(chunk: Buffer): Buffer | null {
    let off = 0;
    while (off < chunk.length) {
      if (this.hold) return chunk.subarray(off);
      if (this.left === 0 && this.body === null) {
        const take = Math.min(FRAME_HEADER - this.headLen, chunk.length - off);
        chunk.copy(this.head, this.headLen, off, off + take);
        this.headLen += take;
        off += take;
        if (this.headLen < FRAME_HEADER) return null;
        this.headLen = 0;
        this.start(this.head.readUInt32LE(0), this.head.readUInt32LE(4));
        continue;
      }
      const take = Math.min(this.left, chunk.length - off);
      if (this.type === F.DATA) this.h.data(chunk.subarray(off, off + take));
      else {
        chunk.copy(this.body!, this.bodyLen, off, off + take);
        this.bodyLen += take;
      }
      off += take;
      this.left -= take;
      if (this.left === 0) this.end();
    }
    return null;
  }

  /** Payload bytes still to come in the current DATA frame (0 outside one). */
  dataLeft(): number {
    return this.type === F.DATA && !this.hold ? this.left : 0;
  }

  /** `n ≤ dataLeft()` payload bytes were read by the caller straight to their destination. */
  skipData(n: number): void {
    this.left -= n;
  }

  private start(len: number, type: number): void {
    if (!TYPES.has(type)) throw new CommError(`malformed frame: unknown type ${type}`);
    const max = !this.authenticated ? PREAUTH_MAX : type === F.DATA ? DATA_MAX : CONTROL_MAX;
    if (len > max)
      throw new CommError(
        `malformed frame: type ${type} of ${len} bytes exceeds the limit of ${max} ` +
          `bytes${this.authenticated ? '' : ' before authentication'}`,
      );
    if (type === F.DATA) {
      if (!this.authenticated) throw new CommError('malformed frame: data before authentication');
      if (len % 8 !== 0) throw new CommError(`malformed frame: data frame of ${len} bytes is not a multiple of 8`);
    }
    this.type = type;
    this.left = len;
    if (type !== F.DATA) {
      this.body = Buffer.allocUnsafe(len);
      this.bodyLen = 0;
    }
    if (len === 0) this.end();
  }

  private end(): void {
    if (this.type !== F.DATA) {
      const b = this.body!;
      this.body = null;
      this.h.frame(this.type, b);
    }
  }
}

// ---- handshake: the acceptor challenges, the connector proves knowledge of the token, then the acceptor proves it
// too.

const PROTO = 'syncbn/1';

function mac(token: string, ...parts: (Buffer | string)[]): Buffer {
  const h = createHmac('sha256', token);
  h.update(PROTO);
  for (const p of parts) h.update(p);
  return h.digest();
}

function purposeTag(p: Hello['purpose']): string {
  return p === 'mesh' ? 'M' : p === 'direct' ? 'D' : 'S';
}

export interface Hello {
  /** mesh: the comm worker's connections; direct: a rank thread's data socket; store: the rendezvous store. */
  purpose: 'mesh' | 'direct' | 'store';
  rank: number;
  size: number;
}

/**
 * One socket's parser during the handshake: frames are taken one at a time (the parser holds after
 * each), so bytes that follow the handshake are never parsed with the wrong handler.
 */
export class Conn {
  /** After the handshake: parse everything with `h` from now on (including bytes already received). */
  takeOver(h: FrameHandler): void {
    this.parser.h = h;
    this.parser.hold = false;
    const rest = this.leftover;
    this.leftover = null;
    if (rest !== null) this.parser.feed(rest);
  }

  readonly parser: FrameParser;
  private frames: { type: number; payload: Buffer }[] = [];
  /** Bytes received after the last handshake frame: feed them to the steady-state parser first. */
  leftover: Buffer | null = null;

  constructor(readonly s: Socket) {
    this.parser = new FrameParser({
      data: () => {},
      frame: (type, payload) => (this.frames.push({ type, payload }), (this.parser.hold = true)),
    });
  }

  next(timeoutMs: number, what: string): Promise<{ type: number; payload: Buffer }> {
    const s = this.s;
    return new Promise((resolve, reject) => {
      const take = (): boolean => {
        this.parser.hold = false;
        while (this.leftover !== null && this.frames.length === 0) {
          const c = this.leftover;
          this.leftover = null;
          this.leftover = this.parser.feed(c);
        }
        const f = this.frames.shift();
        if (f === undefined) return false;
        done(null, f);
        return true;
      };
      const done = (err: Error | null, f?: { type: number; payload: Buffer }): void => {
        clearTimeout(timer);
        s.off('data', onData);
        s.off('close', onClose);
        s.off('error', onClose);
        if (err) reject(err);
        else resolve(f!);
      };
      const onData = (c: Buffer): void => {
        try {
          this.leftover = this.leftover === null ? c : Buffer.concat([this.leftover, c]);
          take();
        } catch (e) {
          done(new AuthError(`${what}: ${(e as Error).message}`));
        }
      };
      const onClose = (e?: Error): void =>
        done(
          new AuthError(
            `${what}: connection closed during the handshake${e instanceof Error ? ` (${e.message})` : ''}`,
          ),
        );
      const timer = setTimeout(
        () => done(new AuthError(`${what}: no handshake reply within ${timeoutMs} ms`)),
        timeoutMs,
      );
      try {
        if (take()) return;
      } catch (e) {
        return done(new AuthError(`${what}: ${(e as Error).message}`));
      }
      s.on('data', onData);
      s.once('close', onClose);
      s.once('error', onClose);
    });
  }
}

/**
 * Acceptor side. Resolves with the peer's claimed (and proven) identity; rejects with AuthError (and
 * closes). `expect.size` 0 accepts any world size (the store). `onClaim` gets the identity the peer
 * claims before it is verified (to name who failed).
 */
export async function acceptHandshake(
  c: Conn,
  token: string,
  expect: { purpose: Hello['purpose']; size: number },
  timeoutMs: number,
  onClaim?: (claim: Hello) => void,
): Promise<Hello> {
  const s = c.s;
  const nonceS = randomBytes(32);
  writeFrame(s, F.HELLO, Buffer.concat([Buffer.from(purposeTag(expect.purpose)), nonceS]));
  const what = `authenticating ${s.remoteAddress}:${s.remotePort}`;
  const f = await c.next(timeoutMs, what);
  const fail = (why: string): never => {
    writeFrame(s, F.AUTH_FAIL, Buffer.from(why.slice(0, PREAUTH_MAX)));
    s.end();
    throw new AuthError(`${what}: ${why}`);
  };
  if (f.type !== F.AUTH || f.payload.length !== 32 + 8 + 32)
    return fail(`expected an AUTH frame of 72 bytes, received type ${f.type} of ${f.payload.length} bytes`);
  const nonceC = f.payload.subarray(0, 32);
  const rank = f.payload.readUInt32LE(32);
  const size = f.payload.readUInt32LE(36);
  onClaim?.({ purpose: expect.purpose, rank, size });
  const want = mac(token, expect.purpose, '|client|', nonceS, nonceC, f.payload.subarray(32, 40));
  if (!timingSafeEqual(want, f.payload.subarray(40, 72)))
    return fail('authentication failed: the peer does not know the shared token (SYNCBN_TOKEN)');
  if (expect.size !== 0 && size !== expect.size) {
    return fail(`world size mismatch: this rank has WORLD_SIZE=${expect.size}, the peer ${size}`);
  }
  writeFrame(s, F.AUTH_OK, mac(token, expect.purpose, '|server|', nonceC, nonceS));
  c.parser.authenticated = true;
  return { purpose: expect.purpose, rank, size };
}

/** Connector side: answer the challenge and check the acceptor's proof. Rejects with AuthError. */
export async function connectHandshake(c: Conn, token: string, me: Hello, timeoutMs: number): Promise<void> {
  const s = c.s;
  const what = `authenticating to ${s.remoteAddress}:${s.remotePort}`;
  const hello = await c.next(timeoutMs, what);
  const tag = purposeTag(me.purpose);
  if (hello.type !== F.HELLO || hello.payload.length !== 33 || hello.payload.toString('latin1', 0, 1) !== tag)
    throw new AuthError(
      `${what}: expected a ${me.purpose} HELLO, received type ${hello.type} of ${hello.payload.length} bytes`,
    );
  const nonceS = hello.payload.subarray(1);
  const nonceC = randomBytes(32);
  const id = Buffer.alloc(8);
  id.writeUInt32LE(me.rank, 0);
  id.writeUInt32LE(me.size, 4);
  writeFrame(s, F.AUTH, Buffer.concat([nonceC, id, mac(token, me.purpose, '|client|', nonceS, nonceC, id)]));
  const ok = await c.next(timeoutMs, what);
  if (ok.type === F.AUTH_FAIL) throw new AuthError(`${what}: rejected: ${ok.payload.toString('utf8')}`);
  if (
    ok.type !== F.AUTH_OK ||
    ok.payload.length !== 32 ||
    !timingSafeEqual(ok.payload, mac(token, me.purpose, '|server|', nonceC, nonceS))
  )
    throw new AuthError(`${what}: the acceptor failed to prove it knows the shared token`);
  c.parser.authenticated = true;
}
