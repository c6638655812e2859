// Finding a Python that can `import torch`, the way the scripts and benchmarks do (PATH's python3, then Debian's).
import { spawnSync } from 'node:child_process';

let found: string | null | undefined;

/** A python3 that can `import torch`: PATH's python3 first, then Debian's /usr/bin/python3; null if neither can. */
export function findTorchPython(): string | null {
  if (found !== undefined) return found;
  found = null;
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) {
      found = py;
      break;
    }
  }
  return found;
}
