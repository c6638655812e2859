// Parent-death watch, run as a worker thread of a launched rank process: when the launcher dies, so does the rank.
//
// A rank's main thread may sit in synchronous collectives for its whole life (the event loop never
// turns), so no event on it (IPC 'disconnect') can be relied upon. This thread polls the parent pid
// instead: when the launcher dies, however it dies (SIGKILL included), the kernel re-parents the rank
// and the pid changes. The rank then gets SIGTERM (its handlers may run) and SIGKILL `graceMs` later.
import { workerData } from 'node:worker_threads';

const { ppid, pollMs, graceMs } = workerData as { ppid: number; pollMs: number; graceMs: number };

const timer = setInterval(() => {
  if (process.ppid === ppid) return;
  clearInterval(timer);
  process.kill(process.pid, 'SIGTERM');
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), graceMs);
}, pollMs);
