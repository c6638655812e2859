// The test command: node's runner over dist/test (spec output), then every skipped test listed with its reason;
// with CI=true any skip fails the run, since CI installs everything every test needs.
// Usage: node scripts/run-tests.mjs [paths…]   (default dist/test). SYNCBN_ALLOWED_SKIPS=<regex> exempts test names.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';

const paths = process.argv.slice(2);
mkdirSync('dist', { recursive: true });
const tap = 'dist/test-results.tap';
const args = [
  '--test',
  '--test-concurrency=2',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  '--test-reporter=tap',
  `--test-reporter-destination=${tap}`,
  ...(paths.length > 0 ? paths : ['dist/test']),
];
const run = spawnSync(process.execPath, args, { stdio: 'inherit' });

// TAP: "ok 12 - name # SKIP reason" (indented for subtests).
const skipped = readFileSync(tap, 'utf8')
  .split('\n')
  .map((l) => /^\s*ok \d+ - (.*) # SKIP ?(.*)$/.exec(l))
  .filter((m) => m !== null)
  .map((m) => ({ name: m[1], reason: m[2] || '(no reason given)' }));
const allowed = process.env.SYNCBN_ALLOWED_SKIPS ? new RegExp(process.env.SYNCBN_ALLOWED_SKIPS) : null;
const unexpected = skipped.filter((s) => allowed === null || !allowed.test(s.name));
if (skipped.length > 0) {
  process.stdout.write(`\nskipped tests (${skipped.length}):\n`);
  for (const s of skipped) process.stdout.write(`  - ${s.name}: ${s.reason}\n`);
}
if (run.status !== 0) process.exit(run.status ?? 1);
if (process.env.CI === 'true' && unexpected.length > 0) {
  process.stderr.write(`\nCI expects every test to run, but ${unexpected.length} skipped (listed above)\n`);
  process.exit(1);
}
