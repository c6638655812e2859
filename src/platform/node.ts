// The Node side of the platform seam (`#platform`, package.json "imports"): what the portable core needs from its host.
//
// The core (kernels, tensor, autograd, nn, optim, SyncBN, DDP, the threads collectives) imports host facilities only
// from '#platform'; the "browser" condition swaps this file for ./browser.ts (src/web/build.ts bundles with it).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { threadId as nodeThreadId, workerData as nodeWorkerData } from 'node:worker_threads';

export { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
export { tmpdir } from 'node:os';
export { join } from 'node:path';

/** Which host this build runs on. */
export const PLATFORM: 'node' | 'browser' = 'node';

/** This thread's id among the process's threads (0: the main thread). */
export const threadId: number = nodeThreadId;

/** This process's id (browsers: 0). */
export const pid: number = process.pid;

/** Hardware threads of this machine. */
export function hardwareThreads(): number {
  return availableParallelism();
}

/** What the launcher handed this thread (worker_threads' workerData; null on the main thread). */
export function workerData(): unknown {
  return nodeWorkerData;
}

/** The compiled kernel module, read from the package's dist/wasm (built by `npm run build:wasm`). */
export function wasmModule(): WebAssembly.Module {
  const url = new URL('../../wasm/syncbn.wasm', import.meta.url);
  return new WebAssembly.Module(readFileSync(fileURLToPath(url)));
}

/** Run `fn` as this thread exits, with its exit code (browsers: never; their supervisor sees every end). */
export function onThreadExit(fn: (code: number) => void): void {
  process.once('exit', fn);
}

/** The directory of the installed npm package `name` (browsers have no installed packages: UsageError). */
export function packageDir(name: string): string {
  return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
}

/** The TCP transport (Node only: browsers reach peers through Web Workers). */
export async function tcpTransport(): Promise<typeof import('../comm/tcp/transport.js')> {
  return import('../comm/tcp/transport.js');
}
