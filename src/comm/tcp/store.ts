// A TCP key-value store for rendezvous (like torch's TCPStore): rank 0 serves, every rank sets/gets/adds;
// authenticated.
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { AuthError, CommError, CommTimeoutError, UsageError, describe } from '../../errors.js';
import { envConfig } from '../config.js';
import { CONTROL_MAX, Conn, F, acceptHandshake, connectHandshake, writeFrame } from './frames.js';

/** Options of TCPStore.connect. */
export interface TCPStoreOptions {
  /** Shared secret (default SYNCBN_TOKEN, else empty: loopback only). */
  token?: string;
  /** How long connect() retries and get() waits (ms). Default 60000. */
  timeoutMs?: number;
  /**
   * The identity this client claims in the handshake: a rank joining a group gives its rank and
   * world size, so that the store's owner can name a rank whose token does not match. Default 0, 0.
   */
  rank?: number;
  size?: number;
}

/**
 * Told of every failed store handshake: where from, the identity it claimed (if it got that far),
 * and whether a client claiming that rank had already authenticated.
 */
export type StoreAuthFailure = (
  from: string,
  claim: { rank: number; size: number } | null,
  error: AuthError,
  known: boolean,
) => void;

interface Req {
  id: number;
  op: 'set' | 'get' | 'add';
  key: string;
  value?: string;
  delta?: number;
}
type Res = { id: number; ok: true; value: string } | { id: number; ok: false; error: string };

const HANDSHAKE_MS = 10_000;
const MAX_KEY = 1024;

const OPS = new Set(['set', 'get', 'add']);

/** A store request from its frame; CommError saying what is wrong if it is not one. */
function parseReq(payload: Buffer): Req {
  let r: unknown;
  try {
    r = JSON.parse(payload.toString('utf8'));
  } catch (e) {
    throw new CommError(`malformed store request (${payload.length} bytes): not JSON (${(e as Error).message})`);
  }
  const q = r as Partial<Req> | null;
  const bad = (why: string): never => {
    throw new CommError(`malformed store request: ${why}`);
  };
  if (q === null || typeof q !== 'object' || Array.isArray(q)) bad(`expected an object, received ${describe(r)}`);
  if (!Number.isSafeInteger(q!.id)) bad(`id must be an integer, received ${describe(q!.id)}`);
  if (!OPS.has(q!.op as string)) bad(`op must be "set", "get" or "add", received ${describe(q!.op)}`);
  return q as Req;
}

/** The server half: a map, and for get() a list of waiters per missing key. */
export class StoreServer {
  private readonly map = new Map<string, string>();
  private readonly waiters = new Map<string, ((v: string) => void)[]>();
  private readonly sockets = new Set<Socket>();
  /** Ranks (claimed with a world size) that authenticated. */
  private readonly authed = new Set<number>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly onAuthFailure?: StoreAuthFailure,
  ) {}

  static listen(host: string, port: number, token: string, onAuthFailure?: StoreAuthFailure): Promise<StoreServer> {
    return new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true });
      server.once('error', (e) =>
        reject(new CommError(`TCP store: cannot listen on ${host}:${port}: ${e.message}`, 'E_COMM', { cause: e })),
      );
      server.listen(port, host, () => {
        const st = new StoreServer(server, (server.address() as { port: number }).port, onAuthFailure);
        server.on('connection', (s) => st.accept(s, token));
        resolve(st);
      });
    });
  }

  private accept(s: Socket, token: string): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => {});
    const from = `${s.remoteAddress}:${s.remotePort}`;
    const c = new Conn(s);
    // A client that authenticated and then sends something malformed loses its connection, and
    // only that: the store (rank 0's comm worker) goes on serving the group.
    const drop = (e: unknown): void => {
      if (s.destroyed) return;
      s.destroy();
      const why = (e as Error).message;
      process.stderr.write(`syncbn TCP store: dropped the connection of authenticated client ${from}: ${why}\n`);
    };
    let claim: { rank: number; size: number } | null = null;
    const onClaim = (h: { rank: number; size: number }): void => void (claim = { rank: h.rank, size: h.size });
    acceptHandshake(c, token, { purpose: 'store', size: 0 }, HANDSHAKE_MS, onClaim).then(
      () => {
        if (claim !== null && claim.size > 0) this.authed.add(claim.rank);
        try {
          c.takeOver({
            data: () => {
              throw new CommError('malformed frame: data on a store connection');
            },
            frame: (type, payload) => {
              if (type !== F.STORE_REQ) throw new CommError(`malformed frame: type ${type} on a store connection`);
              this.handle(s, parseReq(payload));
            },
          });
        } catch (e) {
          drop(e);
        }
      },
      (e: AuthError) => {
        setTimeout(() => s.destroy(), 1000).unref(); // let the AUTH_FAIL reason reach the peer
        this.onAuthFailure?.(from, claim, e, claim !== null && this.authed.has(claim.rank));
      },
    );
    s.on('data', (chunk: Buffer) => {
      if (!c.parser.authenticated || s.destroyed) return; // the handshake reads these itself
      try {
        c.parser.feed(chunk);
      } catch (e) {
        drop(e);
      }
    });
  }

  private handle(s: Socket, r: Req): void {
    const reply = (res: Res): void => {
      if (!s.destroyed) writeFrame(s, F.STORE_RES, Buffer.from(JSON.stringify(res)));
    };
    if (typeof r.key !== 'string' || r.key.length > MAX_KEY)
      return reply({ id: r.id, ok: false, error: `bad key ${describe(r.key)}` });
    if (r.op === 'set') {
      this.map.set(r.key, String(r.value));
      for (const w of this.waiters.get(r.key) ?? []) w(String(r.value));
      this.waiters.delete(r.key);
      return reply({ id: r.id, ok: true, value: '' });
    }
    if (r.op === 'add') {
      const v = String(Number(this.map.get(r.key) ?? '0') + Number(r.delta ?? 0));
      this.map.set(r.key, v);
      for (const w of this.waiters.get(r.key) ?? []) w(v);
      this.waiters.delete(r.key);
      return reply({ id: r.id, ok: true, value: v });
    }
    if (r.op === 'get') {
      const v = this.map.get(r.key);
      if (v !== undefined) return reply({ id: r.id, ok: true, value: v });
      const list = this.waiters.get(r.key) ?? [];
      list.push((value) => reply({ id: r.id, ok: true, value }));
      this.waiters.set(r.key, list);
      return;
    }
    reply({ id: r.id, ok: false, error: `unknown op ${describe(r.op)}` });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** A client of the store. `TCPStore.connect` retries until the server is up (or the timeout). */
export class TCPStore {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: string) => void; reject: (e: Error) => void }>();
  private closedErr: Error | null = null;

  private constructor(
    readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {}

  /** Connect to the store at host:port, retrying until its server is up or the timeout passes (CommTimeoutError). */
  static async connect(host: string, port: number, opts: TCPStoreOptions = {}): Promise<TCPStore> {
    if (typeof host !== 'string' || host === '')
      throw new UsageError(`TCPStore.connect: host must be a non-empty string, received ${describe(host)}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new UsageError(`TCPStore.connect: port must be an integer in [1, 65535], received ${describe(port)}`);
    const token = opts.token ?? envConfig().SYNCBN_TOKEN ?? '';
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      let s: Socket;
      try {
        s = await open(host, port, Math.max(100, deadline - Date.now()));
      } catch (e) {
        last = (e as Error).message;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const c = new Conn(s);
      try {
        const me = { purpose: 'store' as const, rank: opts.rank ?? 0, size: opts.size ?? 0 };
        await connectHandshake(c, token, me, HANDSHAKE_MS);
      } catch (e) {
        s.destroy();
        throw e instanceof AuthError ? e : new AuthError(String(e));
      }
      const st = new TCPStore(s, timeoutMs);
      c.takeOver({
        data: () => {
          throw new CommError('malformed frame: data from the store');
        },
        frame: (type, payload) => {
          if (type !== F.STORE_RES) throw new CommError(`malformed frame: type ${type} from the store`);
          st.settle(JSON.parse(payload.toString('utf8')) as Res);
        },
      });
      s.on('data', (chunk: Buffer) => {
        try {
          c.parser.feed(chunk);
        } catch (e) {
          st.fail(e as Error);
          s.destroy();
        }
      });
      s.on('close', () => st.fail(new CommError(`TCP store at ${host}:${port}: connection closed`)));
      s.on('error', (e) => st.fail(new CommError(`TCP store at ${host}:${port}: ${e.message}`)));
      return st;
    }
    throw new CommTimeoutError(`TCP store at ${host}:${port}: could not connect within ${timeoutMs} ms (${last})`, []);
  }

  private settle(r: Res): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (r.ok) p.resolve(r.value);
    else p.reject(new CommError(`TCP store: ${r.error}`));
  }

  private fail(e: Error): void {
    this.closedErr ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private request(req: Omit<Req, 'id'>, timeoutMs = this.timeoutMs): Promise<string> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    if (typeof req.key !== 'string' || req.key.length > MAX_KEY)
      return Promise.reject(
        new UsageError(
          `TCPStore: key must be a string of at most ${MAX_KEY} characters, received ${describe(req.key)}`,
        ),
      );
    const id = this.nextId++;
    const body = Buffer.from(JSON.stringify({ ...req, id }));
    if (body.length > CONTROL_MAX)
      return Promise.reject(new UsageError(`TCPStore: request of ${body.length} bytes exceeds ${CONTROL_MAX}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new CommTimeoutError(
            `TCP store: ${req.op}(${JSON.stringify(req.key)}) got no answer within ${timeoutMs} ms`,
            [],
          ),
        );
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      writeFrame(this.socket, F.STORE_REQ, body);
    });
  }

  /** Set `key` to `value` (waiters on get(key) wake up). */
  set(key: string, value: string): Promise<void> {
    return this.request({ op: 'set', key, value: String(value) }).then(() => undefined);
  }
  /** Wait until `key` is set, then return its value. */
  get(key: string, timeoutMs?: number): Promise<string> {
    return this.request({ op: 'get', key }, timeoutMs);
  }
  /** Atomically add `delta` to the integer at `key` (missing: 0); returns the new value. */
  async add(key: string, delta: number): Promise<number> {
    if (!Number.isFinite(delta))
      throw new UsageError(`TCPStore.add: delta must be a finite number, received ${describe(delta)}`);
    return Number(await this.request({ op: 'add', key, delta }));
  }
  /** Close the connection; pending and later requests fail with CommError. */
  close(): void {
    this.closedErr ??= new CommError('TCP store client closed');
    this.socket.destroy();
  }
}

/** net.Socket's `onread` option: reads go into `buffer`, then `callback` runs (no 'data' event). */
export interface OnRead {
  buffer: Uint8Array | (() => Uint8Array);
  callback(bytesWritten: number, buf: Uint8Array): boolean;
}

/** Connect (with `onread`: the socket reads into that buffer and calls back instead of emitting 'data'). */
export function open(host: string, port: number, timeoutMs: number, onread?: OnRead): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(onread === undefined ? { host, port, noDelay: true } : { host, port, noDelay: true, onread });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect to ${host}:${port} timed out`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
