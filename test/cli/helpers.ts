// Test helper for the CLI: run `syncbn` as a child process; a small trained-looking demo model on disk.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createModel, saveModule } from '../../src/index.js';
import { randomizeNorms } from '../onnx/models.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export function syncbn(args: string[], cwd: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A temp folder holding demo.safetensors: the 'demo' architecture with width 4 and non-trivial BN statistics. */
export function demoModelDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'syncbn-cli-'));
  const m = createModel('demo', { width: 4, seed: 3 });
  randomizeNorms(m, 4);
  saveModule(join(dir, 'demo.safetensors'), m);
  return dir;
}
