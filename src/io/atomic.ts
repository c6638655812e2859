// Atomic file replacement (hidden temp file, fsync, rename, fsync of the directory); cleanup of killed writers' temps.
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { IOError } from '../errors.js';

/** A temp file older than this is stale even if a process with its writer's pid is alive (pid reuse, hung writer). */
export const STALE_TEMP_MS = 15 * 60 * 1000;

/** The temp name of a write to `path`: `.<name>.tmp-<pid>-<8 hex>`, hidden and next to the target (same filesystem). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Remove temp files of earlier writes to `path` (`.<name>.tmp-<pid>-<hex>`, and the older
 * `<name>.tmp-<pid>-<hex>`) whose writer is gone: its pid is not alive, or the file was last
 * modified more than `staleMs` ago. A live concurrent writer's temp file (recent, pid alive —
 * including this process's own worker threads, which share its pid) is left alone. Returns the
 * removed paths. Errors (a file vanishing under us, no permission) skip that file.
 */
export function removeStaleTemps(path: string, staleMs = STALE_TEMP_MS, now = Date.now()): string[] {
  const dir = dirname(path);
  const name = escapeRe(basename(path));
  const re = new RegExp(`^(?:\\.${name}|${name})\\.tmp-(\\d+)-[0-9a-f]+$`);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const e of entries) {
    const m = re.exec(e);
    if (m === null) continue;
    const p = join(dir, e);
    try {
      const age = now - statSync(p).mtimeMs;
      if (pidAlive(Number(m[1])) && age < staleMs) continue;
      unlinkSync(p);
      removed.push(p);
    } catch {
      // gone already (its writer renamed it) or not ours to remove
    }
  }
  return removed;
}

/** fsync a directory so a rename in it is durable; a no-op where directories cannot be fsynced. */
export function fsyncDir(dir: string): void {
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // directory fsync is not supported everywhere (e.g. some network filesystems); the rename is done
  }
}

/**
 * Replace `path` with `bytes` atomically: stale temps of `path` are removed, the bytes go to a
 * hidden temp file in the same directory, which is fsynced and renamed over the target, then the
 * directory is fsynced — a crash at any moment leaves the old file or the new one, never a mix.
 * `what` prefixes the IOError message (the caller's function name).
 */
export function writeFileAtomic(path: string, bytes: Uint8Array, what = 'writeFileAtomic'): void {
  removeStaleTemps(path);
  const tmp = tempPathFor(path);
  let fd = -1;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or never created
    }
    throw new IOError(`${what}: could not write ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e });
  }
  fsyncDir(dirname(path));
}
