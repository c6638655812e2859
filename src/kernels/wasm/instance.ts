// Loads the one WebAssembly module (built from wasm/ by `npm run build:wasm`) over one shared, growable memory.
import { wasmModule, workerData } from '#platform';

/** 64 KiB WebAssembly pages. The maximum only reserves address space; pages are committed on grow. */
const INITIAL_PAGES = 32;
const MAXIMUM_PAGES = 65536;

/**
 * Why shared memory: growing a non-shared WebAssembly.Memory detaches every existing view of it, so
 * a tensor's Float32Array would go stale whenever another tensor is allocated. Views of a *shared*
 * memory stay valid across grow(), so tensors can hold plain Float32Array views of the wasm heap and
 * kernels run on them by pointer, with no copy per call.
 */
export function createHeapMemory(): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared: true });
}

/**
 * A thread rank started by spawnThreads gets its heap from the launcher, which gives every rank
 * every rank's heap: collectives then read a peer's buffers where they are (src/comm/shared.ts).
 * Only the first copy of this module in a thread takes it (a thread may load two copies of the
 * library, and two allocators must never share one memory); the flag lives on the thread's global.
 */
const TAKEN = Symbol.for('syncbn.sharedHeapTaken');
const provided = (workerData() as { syncbnHeap?: unknown } | null)?.syncbnHeap;
const thread = globalThis as unknown as Record<symbol, boolean | undefined>;
/** This module's heap is the one the launcher shared with the other ranks. */
export const heapIsShared = provided instanceof WebAssembly.Memory && thread[TAKEN] !== true;
if (heapIsShared) thread[TAKEN] = true;
export const memory = heapIsShared ? (provided as WebAssembly.Memory) : createHeapMemory();

// Raw exports: every kernel takes byte pointers (usize) and counts (i32). Typed per area in its binding file.
export type WasmExports = Record<string, (...args: number[]) => number>;

function load(): WasmExports {
  const instance = new WebAssembly.Instance(wasmModule(), {
    env: {
      memory,
      abort(_msg: number, _file: number, line: number, col: number): never {
        throw new Error(`wasm abort at ${line}:${col}`);
      },
    },
  });
  return instance.exports as unknown as WasmExports;
}

export const wasm: WasmExports = load();
