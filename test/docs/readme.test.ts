// README.md stays a guide that works: short, its links resolve, its training example runs, its commands exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/docs/readme.test.js → the repository root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const cli = join(root, 'dist/src/cli/main.js');

/** The bodies of the fenced code blocks of `text` whose info string is `lang`. */
function codeBlocks(text: string, lang: string): string[] {
  return [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].filter((m) => m[1] === lang).map((m) => m[2]!);
}

/** Relative link and image targets of a Markdown text, without their #fragment (code spans and blocks excluded). */
function relativeLinks(text: string): string[] {
  const prose = text.replace(/^```[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'))
    .map((t) => t.split('#')[0]!);
}

test('the README is at most 250 lines', () => {
  const lines = readme.split('\n').length - (readme.endsWith('\n') ? 1 : 0);
  assert.ok(lines <= 250, `README.md has ${lines} lines; the limit is 250 (details belong in docs/)`);
});

test('every relative link and image in the README and in docs/*.md names a file that exists', () => {
  const pages = [
    join(root, 'README.md'),
    ...readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => join(root, 'docs', f)),
  ];
  const broken: string[] = [];
  let checked = 0;
  for (const page of pages) {
    for (const target of relativeLinks(readFileSync(page, 'utf8'))) {
      checked++;
      if (!existsSync(resolve(dirname(page), decodeURIComponent(target)))) broken.push(`${page}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked >= 10, `only ${checked} links found: is the link pattern still right?`);
  assert.ok(relativeLinks(readme).includes('docs/img/report.png'), "the README shows the demo's report");
});

test('the link check finds a missing target (negative control)', () => {
  assert.deepEqual(relativeLinks('see [a](docs/nope.md#x) and ![i](img/a.png), [w](https://x.org), `[c](no.md)`'), [
    'docs/nope.md',
    'img/a.png',
  ]);
});

test("every `npm run` script and `npx syncbn` subcommand in the README's shell blocks exists", () => {
  const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts as Record<string, string>;
  const shell = codeBlocks(readme, 'sh').join('\n');
  const npmRuns = [...shell.matchAll(/npm run (\S+)/g)].map((m) => m[1]!);
  for (const s of npmRuns) assert.ok(s in scripts, `npm run ${s}: no such script in package.json`);
  const subs = [...new Set([...shell.matchAll(/npx syncbn (\w+)/g)].map((m) => m[1]!))];
  assert.ok(subs.includes('demo') && subs.includes('run'), `subcommands found: ${subs.join(', ')}`);
  for (const sub of subs) {
    const r = spawnSync(process.execPath, [cli, sub, '--help'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `syncbn ${sub} --help: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`usage: syncbn ${sub}`));
  }
});

test("the README's training example runs on 2 thread ranks with `syncbn run` and prints a falling mean loss", () => {
  const blocks = codeBlocks(readme, 'js');
  assert.equal(blocks.length, 1, 'the README has one js block: the training example');
  const code = blocks[0]!;
  assert.match(code, /from 'syncbn';/, 'the example imports the package by its name');
  // Inside the package's own tree, 'syncbn' resolves to dist/src/index.js through package.json "exports"
  // (self-reference), exactly as it does for a user who installed the package.
  const dir = mkdtempSync(join(root, 'dist', 'readme-example-'));
  try {
    writeFileSync(join(dir, 'train.mjs'), code);
    const r = spawnSync(process.execPath, [cli, 'run', '-n', '2', join(dir, 'train.mjs'), '3'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    const losses = [...r.stdout.matchAll(/^\[rank 0\] epoch (\d+) mean loss (\d+\.\d+)$/gm)].map((m) => Number(m[2]));
    assert.equal(losses.length, 3, `expected one loss line per epoch from rank 0:\n${r.stdout}`);
    assert.ok(losses.every(Number.isFinite), `losses ${losses.join(', ')}`);
    // untrained, the 3-class loss is about ln 3 ≈ 1.10; a run that learns ends well below half of its first epoch's
    assert.ok(losses[2]! < 0.5 * losses[0]!, `the mean loss should fall over 3 epochs: ${losses.join(', ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
