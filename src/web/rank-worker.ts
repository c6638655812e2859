// A browser rank's Web Worker: takes the page's launch data, then (only then) loads the core and runs the rank body.
//
// Order matters: the core reads its shared heap and the compiled kernels through #platform while its modules are
// evaluated, so both are stored on the worker's global before the first dynamic import of the library.
import type { FromRank, RankBody, ToRank } from './protocol.js';

interface WorkerScope {
  onmessage: ((e: { data: ToRank }) => void) | null;
  postMessage(m: FromRank, transfer?: unknown[]): void;
  addEventListener(type: 'unhandledrejection', fn: (e: { reason: unknown; preventDefault(): void }) => void): void;
}
const scope = globalThis as unknown as WorkerScope;
const slots = globalThis as unknown as Record<symbol, unknown>;

function send(m: FromRank, transfer?: unknown[]): void {
  scope.postMessage(m, transfer);
}

async function run(init: ToRank): Promise<void> {
  slots[Symbol.for('syncbn.wasmModule')] = init.module;
  slots[Symbol.for('syncbn.workerData')] = init.workerData;
  // What initProcessGroup calls once the group has formed (as rank-main.ts sets it in Node).
  slots[Symbol.for('syncbn.launcher.joined')] = () => send({ type: 'joined' });
  const { initProcessGroup, toRankError } = await import('./rank-lib.js');
  try {
    const body = ((await import(init.body)) as { default?: unknown }).default;
    if (typeof body !== 'function')
      throw new TypeError(`rank body ${JSON.stringify(init.body)} has no default export function`);
    const pg = await initProcessGroup();
    const post = (data: unknown, transfer?: ArrayBuffer[]): void => send({ type: 'event', data }, transfer);
    const value = await (body as RankBody)(pg, init.args, { post, data: init.data });
    await pg.close();
    send({ type: 'result', value });
  } catch (e) {
    send({ type: 'error', error: toRankError(e) });
  }
}

scope.addEventListener('unhandledrejection', (e) => {
  e.preventDefault();
  send({ type: 'error', error: { name: 'Error', message: `unhandled rejection: ${String(e.reason)}` } });
});
scope.onmessage = (e) => {
  scope.onmessage = null;
  void run(e.data);
};
