// Print the SYNCBN_* table (src/comm/config.ts) as markdown; --write puts it into README.md, --check compares.
// Usage: npm run build:ts && node scripts/config-table.mjs [--write | --check]
import { readFileSync, writeFileSync } from 'node:fs';
import { renderEnvTable } from '../dist/src/comm/config.js';

const README = new URL('../README.md', import.meta.url);
const BLOCK = /(<!-- config-table:start -->\n)[\s\S]*?(<!-- config-table:end -->)/;
const mode = process.argv[2];
const table = renderEnvTable();
if (mode === undefined) {
  process.stdout.write(table);
} else if (mode === '--write' || mode === '--check') {
  const readme = readFileSync(README, 'utf8');
  if (!BLOCK.test(readme)) {
    process.stderr.write('README.md has no <!-- config-table:start --> … <!-- config-table:end --> block\n');
    process.exit(1);
  }
  const next = readme.replace(BLOCK, (_, start, end) => `${start}${table}${end}`);
  if (mode === '--write') writeFileSync(README, next);
  else if (next !== readme) {
    process.stderr.write('README.md: the environment table is stale; run node scripts/config-table.mjs --write\n');
    process.exit(1);
  }
} else {
  process.stderr.write(`usage: node scripts/config-table.mjs [--write | --check], received ${JSON.stringify(mode)}\n`);
  process.exit(2);
}
