// The one table of SYNCBN_* environment variables (name, parser, default, doc); a bad value is a UsageError.
import { UsageError, describe } from '../errors.js';

/** An environment: `process.env` or a plain record (launchers and tests pass their own). */
export type EnvRecord = Readonly<Record<string, string | undefined>>;

/** Turns a variable's text into a value; `expected` completes "must be …" in the error for a bad one. */
export interface EnvParser<T> {
  readonly expected: string;
  /** The value, or undefined when `text` (never empty) is not one. */
  parse(text: string): T | undefined;
}

/** One row of the table. Unset and empty both mean `fallback` (undefined: the code derives one, see `defaultDoc`). */
export interface EnvVar<T, D extends T | undefined = T | undefined> {
  readonly parser: EnvParser<T>;
  readonly fallback: D;
  /** The default as the README shows it. */
  readonly defaultDoc: string;
  /** What the variable does, one sentence or two (markdown). */
  readonly doc: string;
  /** Set by syncbn's launchers for each rank: documented, but a user sets it only when starting ranks by hand. */
  readonly setByLauncher?: true;
}

const INTEGER = /^\d+$/;

/** A non-negative integer (digits only); `unit` is shown in the message, e.g. " (microseconds)". */
function nonNegativeInt(unit = ''): EnvParser<number> {
  return {
    expected: `a non-negative integer${unit}`,
    parse: (t) => (INTEGER.test(t) && Number.isSafeInteger(Number(t)) ? Number(t) : undefined),
  };
}

const NON_NEGATIVE = nonNegativeInt();

/** A positive integer; `unit` as for nonNegativeInt. */
function positiveInt(unit = ''): EnvParser<number> {
  return {
    expected: `a positive integer${unit}`,
    parse: (t) => ((NON_NEGATIVE.parse(t) ?? 0) > 0 ? Number(t) : undefined),
  };
}

/** 0 (false) or 1 (true). */
const flag: EnvParser<boolean> = {
  expected: '0 or 1',
  parse: (t) => (t === '1' ? true : t === '0' ? false : undefined),
};

/** One of `values`, exactly. */
function oneOf<const V extends string>(values: readonly V[]): EnvParser<V> {
  return {
    expected: `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`,
    parse: (t) => ((values as readonly string[]).includes(t) ? (t as V) : undefined),
  };
}

/** Any text (empty means unset, as for every variable). */
const anyText: EnvParser<string> = { expected: 'a non-empty string', parse: (t) => t };

/** A JSON object (what a launcher serialised for its ranks). */
const jsonObject: EnvParser<object> = {
  expected: "a JSON object (syncbn's launchers set it)",
  parse(t) {
    try {
      const v: unknown = JSON.parse(t);
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
    } catch {
      return undefined;
    }
  },
};

function row<T, D extends T | undefined>(
  parser: EnvParser<T>,
  fallback: D,
  defaultDoc: string,
  doc: string,
  setByLauncher?: true,
): EnvVar<T, D> {
  return setByLauncher ? { parser, fallback, defaultDoc, doc, setByLauncher } : { parser, fallback, defaultDoc, doc };
}

/** Per-collective timeout (ms) when neither the options nor SYNCBN_TIMEOUT_MS give one. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** The launchers initProcessGroup knows, in its order of preference (SYNCBN_ENV picks one when several are set). */
export const ENV_SOURCES = ['torchrun', 'kubernetes', 'openmpi', 'slurm'] as const;

/**
 * Every SYNCBN_* variable syncbn reads or sets, in README order. Options of initProcessGroup that
 * share a variable's meaning win over it. Rendered into README.md by renderEnvTable().
 */
export const ENV_VARS = {
  SYNCBN_TIMEOUT_MS: row(
    positiveInt(' (milliseconds)'),
    DEFAULT_TIMEOUT_MS,
    String(DEFAULT_TIMEOUT_MS),
    'Per-collective timeout (ms) of the world group and its subgroups (`timeoutMs`; per call `{ timeoutMs }`).',
  ),
  SYNCBN_PEER_TIMEOUT_MS: row(
    positiveInt(' (milliseconds)'),
    1500,
    '1500',
    'TCP: a peer silent this long (ms; no data, no heartbeat) is declared dead (`peerTimeoutMs`).',
  ),
  SYNCBN_RENDEZVOUS_TIMEOUT_MS: row(
    positiveInt(' (milliseconds)'),
    60_000,
    '60000',
    'TCP: how long (ms) ranks wait for every rank to join (`rendezvousTimeoutMs`).',
  ),
  SYNCBN_TOKEN: row(
    anyText,
    undefined,
    'unset',
    'Shared secret of a TCP world (`token`); required unless every address is loopback. `syncbn run` passes one on.',
  ),
  SYNCBN_TOKEN_FILE: row(
    anyText,
    undefined,
    'unset',
    'A file holding the secret instead, readable by its owner only (mode 0600 or 0400); not with `SYNCBN_TOKEN`.',
  ),
  SYNCBN_LISTEN_ADDR: row(
    anyText,
    undefined,
    'loopback, or the interface that reaches the master',
    'TCP: the address this rank listens on for its peers (`listenAddr`; `0.0.0.0`: every interface).',
  ),
  SYNCBN_ENV: row(
    oneOf(ENV_SOURCES),
    undefined,
    'unset',
    'The launcher whose variables give rank and size when several are present (`syncbn run` sets `torchrun`).',
  ),
  SYNCBN_FLIGHT_DIR: row(
    anyText,
    undefined,
    'unset (`syncbn run`: a temporary directory)',
    'Where each rank writes its [flight record](docs/reliability.md#flight-recorder) (`rank-<r>.json`) ' +
      'when a collective fails.',
  ),
  SYNCBN_SPIN_US: row(
    nonNegativeInt(' (microseconds)'),
    undefined,
    "10000 if this host's ranks (`LOCAL_WORLD_SIZE`, else `WORLD_SIZE`) ≤ its cores, else 0; " +
      '25 with a relayed TCP peer',
    'Longest spin (µs) of a waiting rank before it sleeps (TCP direct: before it naps between socket polls).',
  ),
  SYNCBN_TCP_DIRECT: row(
    flag,
    true,
    '1 (not on Windows)',
    "TCP: 0 moves this rank's bytes through its comm worker (the relay) instead of its own thread.",
  ),
  SYNCBN_TCP_POLL_US: row(
    nonNegativeInt(' (microseconds)'),
    undefined,
    "1000 if this host's ranks ≤ its cores, else 0",
    'TCP relay: how long (µs) the comm worker polls without activity while a collective is in flight (0: sleep).',
  ),
  SYNCBN_RESTART_COUNT: row(
    nonNegativeInt(),
    0,
    '0',
    'Restarts of the group so far (`--max-restarts`); a rank may resume from its checkpoint when > 0.',
    true,
  ),
  SYNCBN_MAX_RESTARTS: row(nonNegativeInt(), 0, '0', 'The `--max-restarts` (`maxRestarts`) the ranks run under.', true),
  SYNCBN_JOB: row(jsonObject, undefined, 'unset', 'The script or function a process rank runs (internal).', true),
} as const;

type Table = typeof ENV_VARS;
/** A variable of the table. */
export type EnvName = keyof Table;
type ValueOf<R> = R extends EnvVar<infer T, infer D> ? T | D : never;
/** Every variable's value, parsed, with its default applied. */
export type SyncbnEnv = { readonly [K in EnvName]: ValueOf<Table[K]> };

/** This process's environment, where there is one (a browser has none: every variable takes its default). */
export function processEnv(): EnvRecord {
  return (globalThis as { process?: { env?: EnvRecord } }).process?.env ?? {};
}

const badValue = (name: string, expected: string, received: string): UsageError =>
  new UsageError(`environment variable ${name} must be ${expected}, received ${describe(received)}`);

/** One variable of `env`, parsed (not cached). Throws UsageError naming it, what it must be and what it is. */
export function readEnvVar<K extends EnvName>(env: EnvRecord, name: K): SyncbnEnv[K] {
  const v = ENV_VARS[name] as EnvVar<unknown>;
  const t = env[name];
  if (t === undefined || t === '') return v.fallback as SyncbnEnv[K];
  const value = v.parser.parse(t);
  if (value === undefined) throw badValue(name, v.parser.expected, t);
  return value as SyncbnEnv[K];
}

/** A launcher's integer variable (RANK, MASTER_PORT, SLURM_NTASKS, …): undefined when unset or empty. */
export function intFromEnv(env: EnvRecord, name: string): number | undefined {
  const t = env[name];
  if (t === undefined || t === '') return undefined;
  const v = NON_NEGATIVE.parse(t);
  if (v === undefined) throw badValue(name, NON_NEGATIVE.expected, t);
  return v;
}

/** Every variable of `env`, parsed and checked (the first bad one, in table order, throws). */
export function parseEnv(env: EnvRecord): SyncbnEnv {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(ENV_VARS) as EnvName[]) out[name] = readEnvVar(env, name);
  return Object.freeze(out) as SyncbnEnv;
}

let cached: SyncbnEnv | null = null;

/**
 * This process's configuration: parseEnv(process.env) on first use, then the same object (a rank's
 * tuning does not change under it). A bad value throws on every call until it is fixed. Functions
 * that take an environment to inspect (rankFromEnv(env), tokenFromEnv(env)) use readEnvVar instead.
 */
export function envConfig(): SyncbnEnv {
  return (cached ??= parseEnv(processEnv()));
}

/** Test hook: forget the resolved configuration, so that the next envConfig() reads the environment again. */
export function resetEnvConfig(): void {
  cached = null;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

/** The table as markdown, `| Variable | Default | Meaning |`: README.md holds it between its config-table markers. */
export function renderEnvTable(): string {
  const lines = ['| Variable | Default | Meaning |', '| --- | --- | --- |'];
  for (const [name, v] of Object.entries(ENV_VARS) as [EnvName, EnvVar<unknown>][]) {
    const meaning = (v.setByLauncher ? 'Set by `syncbn run` / `launch()` for each rank. ' : '') + v.doc;
    lines.push(`| \`${name}\` | ${cell(v.defaultDoc)} | ${cell(meaning)} |`);
  }
  return lines.join('\n') + '\n';
}
