// Rank outcomes: how a launched rank's result or error crosses a thread/process boundary and is reported once.
import { CommError, PeerDiedError } from '../errors.js';

/** A rank's error as it crosses a thread or process boundary: the fields of the Error, JSON-able. */
export interface RankError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  deadRank?: number;
  missingRanks?: number[];
}

/** How a launched rank ended. `joined`: it had formed the world group (initProcessGroup returned) before it ended. */
export type RankOutcome<T = unknown> = (
  { rank: number; ok: true; value: T } | { rank: number; ok: false; error: RankError }
) & { stdout?: string; stderr?: string; joined?: boolean };

export function toRankError(e: unknown): RankError {
  if (e instanceof Error) {
    const out: RankError = { name: e.name, message: e.message };
    if (e.stack !== undefined) out.stack = e.stack;
    const x = e as Error & { code?: unknown; deadRank?: unknown; missingRanks?: unknown };
    if (typeof x.code === 'string') out.code = x.code;
    if (typeof x.deadRank === 'number') out.deadRank = x.deadRank;
    if (Array.isArray(x.missingRanks)) out.missingRanks = x.missingRanks as number[];
    return out;
  }
  return { name: 'Error', message: `non-Error thrown: ${String(e)}` };
}

/** Consequences of another rank's failure: a peer died, or the group was aborted because of it. */
function isConsequence(e: RankError): boolean {
  return e.name === PeerDiedError.name || e.code === 'E_RANK_KILLED';
}

/**
 * The failure to show: a rank's own error beats a CommError (a timeout or mismatch is reported
 * identically on every rank), which beats a PeerDiedError (a consequence, but one that names the
 * dead rank), which beats a rank the launcher ended. Ties: lowest rank.
 */
export function rootCause<T>(
  outcomes: readonly RankOutcome<T>[],
): { rank: number; error: RankError; others: number[] } | null {
  const failed = outcomes.filter((o): o is Extract<RankOutcome<T>, { ok: false }> => !o.ok);
  if (failed.length === 0) return null;
  const score = (e: RankError): number =>
    e.code === 'E_RANK_KILLED'
      ? 3
      : isConsequence(e)
        ? 2
        : e.name.endsWith('Error') && e.code?.startsWith('E_COMM')
          ? 1
          : 0;
  const best = [...failed].sort((a, b) => score(a.error) - score(b.error) || a.rank - b.rank)[0]!;
  return { rank: best.rank, error: best.error, others: failed.filter((f) => f.rank !== best.rank).map((f) => f.rank) };
}

/** `[rank 2] Error: boom` + stack lines, each prefixed. */
export function formatRankError(rank: number, e: RankError): string {
  const body = e.stack !== undefined && e.stack.includes(e.message) ? e.stack : `${e.name}: ${e.message}`;
  return body
    .split('\n')
    .map((l) => `[rank ${rank}] ${l}`)
    .join('\n');
}

export { CommError };
