// Flight recorder: each rank's last 64 collectives in a ring, attached to a CommError, dumped per rank as JSON.
import {
  join,
  mkdirSync,
  mkdtempSync,
  pid,
  readFileSync,
  renameSync,
  rmSync,
  threadId,
  tmpdir,
  writeFileSync,
} from '#platform';
import { envConfig } from './config.js';
import { DTYPE_NAMES, KIND, KIND_NAMES, OPS, type Header } from './wire.js';

/** Collectives each rank remembers (PyTorch's flight recorder keeps a configurable ring too). */
export const FLIGHT_ENTRIES = 64;

/** One collective as a rank saw it. Times are epoch milliseconds (comparable across ranks of one host). */
export interface FlightEntry {
  /** This rank's running count of collectives (all groups). */
  id: number;
  /** Sequence number within its group (the `#12` of error messages). */
  seq: number;
  group: string;
  kind: string;
  tag: string;
  /** Elements (allGather: this rank's contribution; newGroup: members). */
  len: number;
  dtype: string;
  /** Reduce op (allReduce) or root (broadcast), when the kind has one. */
  op?: string;
  root?: number;
  /** queued: submitted, not started (an earlier collective is in progress); running; done; failed. */
  state: 'queued' | 'running' | 'done' | 'failed';
  /** Null while queued (submission is not timed: a clock read costs up to 150 ns on a VM). */
  startedAt: number | null;
  endedAt: number | null;
  /** Group ranks it was still waiting on when it failed (data or arrival), when known. */
  missing: number[];
  /** Name of the error it failed with. */
  error?: string;
}

/** What a rank dumps: who it is, the error, and its entries oldest first. */
export interface FlightDump {
  rank: number;
  size: number;
  transport: string;
  pid: number;
  threadId: number;
  /** When the dump was taken (epoch ms). */
  at: number;
  error: { name: string; message: string } | null;
  entries: FlightEntry[];
}

const STATES = ['queued', 'running', 'done', 'failed'] as const;
const S_QUEUED = 0;
const S_RUNNING = 1;
const S_DONE = 2;
const S_FAILED = 3;

/** What the recorder reads from a collective when it is submitted (a TaskCtx has these). */
export interface FlightCall {
  readonly hdr: Readonly<Pick<Header, 'groupId' | 'seq' | 'kind' | 'dtype' | 'op' | 'len' | 'extra' | 'tag'>>;
  groupName(id: number): string;
}

/**
 * A ring of FLIGHT_ENTRIES records in parallel typed arrays: recording a collective stores a few
 * numbers and two references (its tag string and its context), and allocates nothing.
 */
export class FlightRecorder {
  private n = 0; // collectives recorded so far; record i lives at slot i % FLIGHT_ENTRIES
  private readonly id = new Float64Array(FLIGHT_ENTRIES).fill(-1);
  private readonly state = new Uint8Array(FLIGHT_ENTRIES);
  private readonly times = new Float64Array(FLIGHT_ENTRIES * 2); // started, ended (performance.now; -1: not yet)
  private readonly calls: (FlightCall | null)[] = new Array<FlightCall | null>(FLIGHT_ENTRIES).fill(null);
  private readonly missing: (number[] | null)[] = new Array<number[] | null>(FLIGHT_ENTRIES).fill(null);
  private readonly errors: (string | null)[] = new Array<string | null>(FLIGHT_ENTRIES).fill(null);
  /** Where dumps go (SYNCBN_FLIGHT_DIR when the recorder was made), or null. */
  readonly dir: string | null;

  constructor(
    readonly rank: number,
    readonly size: number,
    readonly transport: string,
    dir: string | undefined = envConfig().SYNCBN_FLIGHT_DIR,
  ) {
    this.dir = dir === undefined || dir === '' ? null : dir;
  }

  /** Record a submitted collective; returns its id (pass it to start/end). */
  add(call: FlightCall): number {
    const id = this.n++;
    const s = id % FLIGHT_ENTRIES;
    this.id[s] = id;
    this.state[s] = S_QUEUED;
    this.times[s * 2] = -1;
    this.times[s * 2 + 1] = -1;
    this.calls[s] = call;
    this.missing[s] = null;
    this.errors[s] = null;
    return id;
  }

  start(id: number, now: number): void {
    const s = id % FLIGHT_ENTRIES;
    if (this.id[s] !== id) return; // overwritten: 64 later collectives were submitted meanwhile
    this.state[s] = S_RUNNING;
    this.times[s * 2] = now;
  }

  end(id: number, error: unknown, missing: number[] | null): void {
    const s = id % FLIGHT_ENTRIES;
    if (this.id[s] !== id) return;
    this.times[s * 2 + 1] = performance.now();
    if (error === undefined) {
      this.state[s] = S_DONE;
      return;
    }
    this.state[s] = S_FAILED;
    this.missing[s] = missing;
    this.errors[s] = error instanceof Error ? error.name : 'Error';
  }

  /** The entries, oldest first, with the error that ended this rank's run (if any). */
  snapshot(error: unknown = null): FlightDump {
    const entries: FlightEntry[] = [];
    const origin = performance.timeOrigin;
    const epoch = (t: number): number | null => (t < 0 ? null : Math.round((origin + t) * 1000) / 1000);
    for (let id = Math.max(0, this.n - FLIGHT_ENTRIES); id < this.n; id++) {
      const s = id % FLIGHT_ENTRIES;
      const c = this.calls[s];
      if (c === null || this.id[s] !== id) continue;
      const h = c.hdr;
      const e: FlightEntry = {
        id,
        seq: h.seq,
        group: c.groupName(h.groupId),
        kind: KIND_NAMES[h.kind] ?? `kind ${h.kind}`,
        tag: h.tag,
        len: h.len,
        dtype: DTYPE_NAMES[h.dtype] ?? `dtype ${h.dtype}`,
        state: STATES[this.state[s]!]!,
        startedAt: epoch(this.times[s * 2]!),
        endedAt: epoch(this.times[s * 2 + 1]!),
        missing: this.missing[s] ?? [],
      };
      if (h.kind === KIND.allReduce) e.op = OPS[h.op];
      if (h.kind === KIND.broadcast) e.root = h.extra;
      const err = this.errors[s];
      if (err !== null) e.error = err;
      entries.push(e);
    }
    const err = error instanceof Error ? { name: error.name, message: error.message } : null;
    const { rank, size, transport } = this;
    return { rank, size, transport, pid, threadId, at: Date.now(), error: err, entries };
  }

  /**
   * A collective failed with `error`: attach the entries to it (as `error.flight`, not enumerable:
   * printing the error stays short) and, with SYNCBN_FLIGHT_DIR, write them to rank-<r>.json.
   */
  failed(error: unknown): void {
    const dump = this.snapshot(error);
    if (error !== null && typeof error === 'object' && !Object.isFrozen(error)) {
      Object.defineProperty(error, 'flight', { value: dump, enumerable: false, configurable: true, writable: true });
    }
    if (this.dir !== null) {
      try {
        writeFlightDump(this.dir, dump);
      } catch (e) {
        const to = JSON.stringify(this.dir);
        const why = (e as Error).message;
        console.error(`syncbn rank ${this.rank}: cannot write the flight record to ${to}: ${why}`);
      }
    }
  }
}

/** The flight record a failed collective's error carries, if any. */
export function flightOf(error: unknown): FlightDump | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  return (error as { flight?: FlightDump }).flight;
}

/** The file a rank's dump goes to. */
export function flightFile(dir: string, rank: number): string {
  return join(dir, `rank-${rank}.json`);
}

/** Write `dump` atomically: a temporary file in the same directory, then a rename over the old one. */
export function writeFlightDump(dir: string, dump: FlightDump): void {
  mkdirSync(dir, { recursive: true });
  const to = flightFile(dir, dump.rank);
  const tmp = `${to}.tmp-${pid}-${threadId}`;
  writeFileSync(tmp, JSON.stringify(dump, null, 1));
  renameSync(tmp, to);
}

/** Every rank's dump from `dir` (null where a rank wrote none or it cannot be read). */
export function readFlightDir(dir: string, size: number): (FlightDump | null)[] {
  return Array.from({ length: size }, (_, r) => {
    try {
      return JSON.parse(readFileSync(flightFile(dir, r), 'utf8')) as FlightDump;
    } catch {
      return null;
    }
  });
}

function describeEntry(e: FlightEntry): string {
  const parts = [e.tag !== '' ? `tag ${JSON.stringify(e.tag)}` : '', e.kind === 'barrier' ? '' : `len ${e.len}`];
  if (e.dtype !== 'none') parts.push(e.dtype);
  if (e.op !== undefined && e.op !== 'sum') parts.push(`op ${e.op}`);
  if (e.root !== undefined) parts.push(`root ${e.root}`);
  const group = e.group === 'world' ? '' : ` on group ${e.group}`;
  const args = parts.filter((p) => p !== '').join(', ');
  return `${e.kind} #${e.seq}${args === '' ? '' : ` (${args})`}${group}`;
}

function ms(a: number | null, b: number | null): string {
  return a === null || b === null ? '?' : `${(b - a).toFixed(1)} ms`;
}

/** Where one rank was: its first unfinished collective (or its last one), and the one done before it. */
function rankLine(d: FlightDump): string {
  const es = d.entries;
  if (es.length === 0) return 'no collective called';
  const at = es.findIndex((e) => e.state !== 'done');
  let line: string;
  if (at < 0) line = `all done; last: ${describeEntry(es[es.length - 1]!)}`;
  else {
    const e = es[at]!;
    if (e.state === 'failed') {
      line = `FAILED ${describeEntry(e)} after ${ms(e.startedAt, e.endedAt)}`;
      if (e.missing.length > 0) line += `, waiting on rank${e.missing.length > 1 ? 's' : ''} ${e.missing.join(', ')}`;
      if (e.error !== undefined) line += ` [${e.error}]`;
    } else
      line =
        `${e.state.toUpperCase()} ` +
        `${describeEntry(e)}${e.startedAt !== null ? ` for ${ms(e.startedAt, d.at)}` : ''}`;
    const later = es.length - at - 1;
    if (later > 0) line += `; ${later} later call${later > 1 ? 's' : ''} not run`;
    const prev = at > 0 ? es[at - 1] : undefined;
    if (prev !== undefined) {
      line += `; previous: ${prev.kind} #${prev.seq}${prev.tag !== '' ? ` ${JSON.stringify(prev.tag)}` : ''}`;
    }
  }
  return line;
}

/**
 * A one-screen account of where each rank was after a failure, from the ranks' flight records
 * (`null` where a rank left none: it failed no collective, e.g. it was killed or busy elsewhere).
 * Says which ranks had called fewer collectives of the world group than the others.
 */
export function formatFlightSummary(
  dumps: readonly (FlightDump | null | undefined)[],
  opts: { dir?: string; maxRanks?: number } = {},
): string {
  const max = opts.maxRanks ?? 16;
  const files = opts.dir !== undefined ? join(opts.dir, 'rank-<r>.json') : null;
  const where = files !== null ? `; every rank's last ${FLIGHT_ENTRIES} in ${files}` : '';
  const lines = [`flight recorder: where each rank was${where}`];
  dumps.slice(0, max).forEach((d, r) => {
    const none = 'no record (it failed no collective: killed, or busy outside the group)';
    lines.push(`  rank ${r}: ${d == null ? none : rankLine(d)}`);
  });
  if (dumps.length > max) lines.push(`  … ${dumps.length - max} more ranks (see the files)`);
  // The furthest world collective each rank called: a rank behind the others is the usual hang.
  const worldSeq = (d: FlightDump): number =>
    d.entries.reduce((m, e) => (e.group === 'world' ? Math.max(m, e.seq) : m), 0);
  const furthest = dumps.map((d) => (d == null ? null : worldSeq(d)));
  const known = furthest.filter((f): f is number => f !== null);
  if (known.length > 1 && Math.min(...known) < Math.max(...known)) {
    const top = Math.max(...known);
    const behind = furthest.flatMap((f, r) => (f !== null && f < top ? [`rank ${r} reached #${f}`] : []));
    lines.push(`  behind: ${behind.join(', ')}; the others reached world collective #${top}`);
  }
  return lines.join('\n');
}

/** A launcher's flight directory: the summary of its ranks' records, and its removal. */
export interface LaunchFlight {
  dir: string;
  summary(size: number): string | null;
  cleanup(): void;
}

/**
 * For a launcher: make sure its ranks dump flight records (SYNCBN_FLIGHT_DIR in `env`, else a fresh
 * temporary directory, removed by cleanup()), and summarise them after a failure. Records older
 * than this call (a reused directory) are ignored.
 */
export function launchFlight(env: Record<string, string>): LaunchFlight {
  const since = Date.now();
  const given = env.SYNCBN_FLIGHT_DIR ?? envConfig().SYNCBN_FLIGHT_DIR;
  const dir = given !== undefined && given !== '' ? given : mkdtempSync(join(tmpdir(), 'syncbn-flight-'));
  env.SYNCBN_FLIGHT_DIR = dir;
  return {
    dir,
    summary(size) {
      const dumps = readFlightDir(dir, size).map((d) => (d !== null && d.at >= since ? d : null));
      if (dumps.every((d) => d === null)) return null;
      return formatFlightSummary(dumps, given !== undefined && given !== '' ? { dir } : {});
    },
    cleanup() {
      if (given === undefined || given === '') rmSync(dir, { recursive: true, force: true });
    },
  };
}
