// Shared by the launcher tests: run `syncbn` as a child, wait for its output, write rank scripts, see whether a pid is
// alive.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** The comm library as a rank script imports it. */
export const COMM = new URL('../../src/comm/index.js', import.meta.url).href;

export interface Cli {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** Resolves with the exit code (or 128 + signal number) and the time it took. */
  exited: Promise<{ code: number; ms: number }>;
  /** Resolves with the first match of `re` on stdout (rejects after `ms`). */
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray>;
}

const SIGNO: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * `syncbn ...args` as a child process; killed with SIGKILL after `hardMs` (a hang becomes a test failure, not a stuck
 * suite).
 */
export function startCli(args: string[], env: Record<string, string> = {}, hardMs = 60_000): Cli {
  const t0 = Date.now();
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    for (const w of waiters) w();
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const hard = setTimeout(() => child.kill('SIGKILL'), hardMs);
  const exited = new Promise<{ code: number; ms: number }>((res) =>
    child.on('close', (code, sig) => {
      clearTimeout(hard);
      res({ code: code ?? 128 + (SIGNO[sig ?? ''] ?? 0), ms: Date.now() - t0 });
    }),
  );
  const waitFor = (re: RegExp, ms = 30_000): Promise<RegExpMatchArray> =>
    new Promise((res, rej) => {
      const t = setTimeout(
        () => rej(new Error(`no ${re} on stdout within ${ms} ms; stdout:\n${out}\nstderr:\n${err}`)),
        ms,
      );
      const check = (): void => {
        const m = out.match(re);
        if (m) {
          clearTimeout(t);
          res(m);
        }
      };
      waiters.push(check);
      check();
    });
  return { child, out: () => out, err: () => err, exited, waitFor };
}

/** Alive and not a zombie (a dead rank re-parented to a PID 1 that reaps slowly stays a zombie for a while). */
export function alive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  try {
    const s = readFileSync(stat, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Polls until none of `pids` is alive or `ms` passed; returns those still alive. */
export async function waitDead(pids: number[], ms: number): Promise<number[]> {
  const end = Date.now() + ms;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A temp dir with `files` written in it; `cleanup()` removes it. */
export function scripts(files: Record<string, string>): {
  dir: string;
  path: (name: string) => string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-launch-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The pids that ranks printed as `[rank r] pid N`, indexed by rank. */
export function rankPids(out: string): number[] {
  const pids: number[] = [];
  for (const m of out.matchAll(/^\[rank (\d+)\] pid (\d+)$/gm)) pids[Number(m[1])] = Number(m[2]);
  return pids;
}
