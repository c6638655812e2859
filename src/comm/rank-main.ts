// Entry point of a launched rank (worker thread or child process): run the user's script or function, report the
// outcome.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { envConfig } from './config.js';
import { toRankError } from './outcome.js';

interface RankJob {
  script?: string;
  fnSource?: string;
  args: string[];
}

type Report =
  { type: 'result'; value: unknown } | { type: 'error'; error: ReturnType<typeof toRankError> } | { type: 'joined' };

/**
 * Set on globalThis for initProcessGroup (whichever copy of the library the script loaded) to say that the group
 * formed.
 */
const JOINED_HOOK = Symbol.for('syncbn.launcher.joined');

function send(msg: Report): Promise<void> {
  if (!isMainThread) {
    parentPort!.postMessage(msg);
    return Promise.resolve();
  }
  return new Promise((res) => {
    if (typeof process.send !== 'function') return res();
    process.send(msg, undefined, {}, () => res());
  });
}

async function fail(e: unknown): Promise<never> {
  await send({ type: 'error', error: toRankError(e) });
  process.exit(1);
}

/**
 * Parent-death watch (child processes only: threads end with their process): a helper thread ends
 * this rank when its launcher dies, SIGKILL included (see launcher-watch.ts). It is unreferenced, so
 * it never keeps a finished rank alive.
 */
function watchLauncher(): void {
  if (!isMainThread || typeof process.send !== 'function') return;
  const w = new Worker(new URL('./launcher-watch.js', import.meta.url), {
    workerData: { ppid: process.ppid, pollMs: 100, graceMs: 3000 },
  });
  w.unref();
}

async function main(): Promise<void> {
  watchLauncher();
  (globalThis as Record<symbol, unknown>)[JOINED_HOOK] = () => void send({ type: 'joined' });
  const job: RankJob = isMainThread
    ? ((envConfig().SYNCBN_JOB ?? { args: [] }) as RankJob)
    : (workerData as { syncbnJob: RankJob }).syncbnJob;
  process.on('uncaughtException', (e) => void fail(e));
  process.on('unhandledRejection', (e) => void fail(e));
  if (job.script !== undefined) {
    process.argv.splice(1, process.argv.length - 1, job.script, ...job.args);
    await import(pathToFileURL(job.script).href);
    return;
  }
  const lib = await import('./index.js');
  const fn = new Function(`return (${job.fnSource});`)() as (pg: unknown, args: string[], l: typeof lib) => unknown;
  const pg = await lib.initProcessGroup();
  let value: unknown;
  try {
    value = await fn(pg, job.args, lib);
  } catch (e) {
    return fail(e);
  }
  await pg.close();
  await send({ type: 'result', value });
  if (isMainThread) process.disconnect?.();
}

main().catch((e) => fail(e));
