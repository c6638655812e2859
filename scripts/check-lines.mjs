// Long-line check: fails on any line over 120 characters in the code folders (Prettier leaves long strings and
// comments alone). Lines holding a URL, or only a regular-expression literal (a token that cannot be broken), are
// exempt. Usage: node scripts/check-lines.mjs [--max N] [dir…]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const maxAt = args.indexOf('--max');
const MAX = maxAt >= 0 ? Number(args.splice(maxAt, 2)[1]) : 120;
if (!Number.isInteger(MAX) || MAX <= 0) {
  process.stderr.write(`check-lines: --max must be a positive integer, received ${JSON.stringify(String(MAX))}\n`);
  process.exit(2);
}
const DIRS = args.length > 0 ? args : ['src', 'test', 'bench', 'scripts', 'wasm', 'examples'];
const CODE = /\.(ts|mts|cts|js|mjs|cjs|py|sh)$/;
const URL = /\bhttps?:\/\//;
// A line that is one regex literal, maybe followed by `,`, `.test(` or `)`: /^…$/m, — splitting it would change it.
const REGEX_LINE = /^\s*\/(?![/*]).*\/[dgimsuy]*(,|\)|\.test\(|\)\)|;)?\s*$/;

function* files(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === '__pycache__' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (CODE.test(e.name)) yield p;
  }
}

let count = 0;
const perFile = new Map();
for (const dir of DIRS) {
  for (const path of files(dir)) {
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.forEach((line, i) => {
      // Characters, not UTF-16 units: Σ, μ and ² count as one column each.
      const width = [...line].length;
      if (width <= MAX || URL.test(line) || REGEX_LINE.test(line)) return;
      count++;
      perFile.set(path, (perFile.get(path) ?? 0) + 1);
      process.stdout.write(`${path}:${i + 1}: ${width} characters (max ${MAX})\n`);
    });
  }
}
if (count > 0) {
  process.stderr.write(`check-lines: ${count} lines over ${MAX} characters in ${perFile.size} files\n`);
  process.exit(1);
}
