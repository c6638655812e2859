// The typed error hierarchy: usage errors (the caller passed something wrong) vs communication and I/O errors.

/** Base of every error syncbn throws on purpose. `code` is stable and machine-readable. */
export class SyncbnError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The caller passed a bad argument, option or input. Retrying with the same input fails again. */
export class UsageError extends SyncbnError {
  constructor(message: string, code = 'E_USAGE', options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A tensor shape, rank or length that does not fit. */
export class ShapeError extends UsageError {
  constructor(message: string) {
    super(message, 'E_SHAPE');
  }
}

/** A value outside its domain: non-finite input, a target out of range, a single value per channel. */
export class ValueError extends UsageError {
  constructor(message: string) {
    super(message, 'E_VALUE');
  }
}

/** An operation used out of order, e.g. backward twice through a freed graph. */
export class StateError extends UsageError {
  constructor(message: string) {
    super(message, 'E_STATE');
  }
}

/** Reading or writing files failed or found malformed data. */
export class IOError extends SyncbnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_IO', message, options);
  }
}

/** A collective or transport failed. `rank` is the local rank, when known. */
export class CommError extends SyncbnError {
  constructor(message: string, code = 'E_COMM', options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A collective did not complete in time; the message names it, its sequence number and the missing ranks. */
export class CommTimeoutError extends CommError {
  readonly missingRanks: readonly number[];
  constructor(message: string, missingRanks: readonly number[]) {
    super(message, 'E_COMM_TIMEOUT');
    this.missingRanks = missingRanks;
  }
}

/** A peer died or its connection closed; the message names the dead rank. */
export class PeerDiedError extends CommError {
  readonly deadRank: number;
  constructor(message: string, deadRank: number, options?: { cause?: unknown }) {
    super(message, 'E_COMM_PEER_DIED', options);
    this.deadRank = deadRank;
  }
}

/** Ranks called different collectives (kind, length, dtype, tag or sequence); the message shows both sides. */
export class CollectiveMismatchError extends CommError {
  constructor(message: string) {
    super(message, 'E_COMM_MISMATCH');
  }
}

/** A peer failed authentication or sent a malformed frame. */
export class AuthError extends CommError {
  constructor(message: string) {
    super(message, 'E_COMM_AUTH');
  }
}

/** Describe a received value for an error message: type, and shape/length where it has one. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(length ${(v as unknown as { length: number }).length})`;
  if (Array.isArray(v))
    return `array [${v
      .slice(0, 8)
      .map((x) => (typeof x === 'number' ? String(x) : typeof x))
      .join(', ')}${v.length > 8 ? ', …' : ''}]`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  return typeof v;
}
