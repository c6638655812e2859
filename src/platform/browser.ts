// The browser side of the platform seam (`#platform` under the "browser" condition): the same surface as ./node.ts.
//
// The kernel module: a worker gets the page's compiled WebAssembly.Module (posted with its launch data, see
// src/web/launch.ts); anywhere else it is compiled here from syncbn.wasm next to the bundle, asynchronously (Chrome
// forbids synchronous compiles of large modules on the main thread), hence the top-level await.
import { IOError, UsageError } from '../errors.js';

/** Where a Web Worker started by the browser launcher finds its launch data (set before the core is imported). */
export const WORKER_DATA = Symbol.for('syncbn.workerData');
/** Where a Web Worker finds the page's compiled kernel module (set before the core is imported). */
export const WASM_MODULE = Symbol.for('syncbn.wasmModule');
/** Where DigitScenes finds its digits in a browser when none are given (setDefaultDigits in src/data/digits.ts). */
const host = globalThis as unknown as Record<symbol, unknown>;

export const PLATFORM: 'node' | 'browser' = 'browser';
export const threadId = 0;
export const pid = 0;

export function hardwareThreads(): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return nav?.hardwareConcurrency ?? 1;
}

export function workerData(): unknown {
  return host[WORKER_DATA] ?? null;
}

type Streaming = { compileStreaming(r: Promise<Response>): Promise<WebAssembly.Module> };
const compiled: WebAssembly.Module =
  (host[WASM_MODULE] as WebAssembly.Module | undefined) ??
  (await (WebAssembly as unknown as Streaming).compileStreaming(fetch(new URL('./syncbn.wasm', import.meta.url))));

export function wasmModule(): WebAssembly.Module {
  return compiled;
}

export function onThreadExit(_fn: (code: number) => void): void {
  // A Web Worker has no exit hook; the page's launcher marks every rank that ends (src/web/launch.ts).
}

export function packageDir(name: string): string {
  throw new UsageError(
    `no installed npm packages in a browser (wanted ${JSON.stringify(name)}); DigitScenes needs options.digits ` +
      'there, e.g. unpackDigits of the /digits.bin that `syncbn web` serves',
  );
}

export async function tcpTransport(): Promise<never> {
  throw new UsageError(
    'initProcessGroup: TCP ranks need Node; in a browser, start ranks with spawnThreads (Web Workers)',
  );
}

function noFiles(name: string): () => never {
  return () => {
    throw new IOError(`${name}: there is no file system in a browser`);
  };
}
export const mkdirSync = noFiles('mkdirSync');
export const mkdtempSync = noFiles('mkdtempSync');
export const readFileSync = noFiles('readFileSync');
export const renameSync = noFiles('renameSync');
export const rmSync = noFiles('rmSync');
export const statSync = noFiles('statSync');
export const writeFileSync = noFiles('writeFileSync');
export const tmpdir = noFiles('tmpdir');
export function join(...parts: string[]): string {
  return parts.join('/');
}

// Compile-time check that this file offers everything ./node.ts does, with compatible types.
type NodeSurface = typeof import('./node.js');
type BrowserSurface = typeof import('./browser.js');
export type BrowserMatchesNode = BrowserSurface extends NodeSurface ? true : never;
const matches: BrowserMatchesNode = true;
void matches;
