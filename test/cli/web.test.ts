// `syncbn web`'s server without a browser: isolation headers, MIME types, the digits asset, refusals; the CLI's errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ISOLATION_HEADERS, startWebServer, type WebServer } from '../../src/cli/web-server.js';
import { parseWebArgs } from '../../src/cli/web.js';
import { loadDigits } from '../../src/data/mnist.js';
import { packDigits, unpackDigits } from '../../src/data/digits.js';
import { IOError, UsageError } from '../../src/errors.js';
import { syncbn } from './helpers.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

describe('the web server', () => {
  let server: WebServer;
  before(async () => {
    server = await startWebServer({ port: 0 });
  });
  after(() => server.close());

  test('every response carries COOP same-origin + COEP require-corp; each file its MIME type', async () => {
    const cases: [string, number, string][] = [
      ['/', 200, 'text/html; charset=utf-8'],
      ['/page.js', 200, 'text/javascript; charset=utf-8'],
      ['/rank-worker.js', 200, 'text/javascript; charset=utf-8'],
      ['/style.css', 200, 'text/css; charset=utf-8'],
      ['/syncbn.wasm', 200, 'application/wasm'],
      ['/nope.js', 404, 'text/plain; charset=utf-8'],
    ];
    for (const [path, status, type] of cases) {
      const r = await fetch(new URL(path, server.url));
      assert.equal(r.status, status, path);
      assert.equal(r.headers.get('content-type'), type, path);
      for (const [k, v] of Object.entries(ISOLATION_HEADERS)) assert.equal(r.headers.get(k), v, `${path}: ${k}`);
      await r.arrayBuffer();
    }
    assert.equal(ISOLATION_HEADERS['Cross-Origin-Opener-Policy'], 'same-origin');
    assert.equal(ISOLATION_HEADERS['Cross-Origin-Embedder-Policy'], 'require-corp');
    const wasm = new Uint8Array(await (await fetch(new URL('/syncbn.wasm', server.url))).arrayBuffer());
    assert.deepEqual([...wasm.subarray(0, 4)], [0, 0x61, 0x73, 0x6d], 'a wasm module');
  });

  test('/digits.bin is the installed mnist digits, packed, bit for bit', async () => {
    const bytes = await (await fetch(new URL('/digits.bin', server.url))).arrayBuffer();
    const got = unpackDigits(bytes);
    const want = loadDigits();
    assert.deepEqual(
      got.map((c) => c.count),
      want.map((c) => c.count),
    );
    for (let d = 0; d < 10; d++) assert.deepEqual(got[d]!.pixels, want[d]!.pixels, `digit ${d}`);
    assert.equal(bytes.byteLength, packDigits(want).byteLength);
  });

  test('other methods are 405; HEAD has headers and no body', async () => {
    const post = await fetch(server.url, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    const head = await fetch(new URL('/syncbn.wasm', server.url), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers.get('content-length')) > 1000);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });
});

/** GET `path` exactly as written (fetch would normalize the dot segments away before sending). */
function rawGet(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

test('nothing outside the served directory is reachable', async () => {
  const top = mkdtempSync(join(tmpdir(), 'syncbn-web-top-'));
  mkdirSync(join(top, 'web'));
  writeFileSync(join(top, 'web', 'index.html'), '<!doctype html><title>t</title>');
  writeFileSync(join(top, 'web', 'inside.json'), '{}');
  writeFileSync(join(top, 'secret.json'), '{"secret": 1}');
  const s = await startWebServer({ port: 0, root: join(top, 'web') });
  try {
    assert.equal(await rawGet(s.port, '/inside.json'), 200, 'the control: a file inside is served');
    for (const p of [
      '/../secret.json',
      '/%2e%2e/secret.json',
      '/..%2fsecret.json',
      '/%2e%2e%2fsecret.json',
      '/web/../../secret.json',
    ]) {
      assert.equal(await rawGet(s.port, p), 404, p);
    }
    assert.equal(await rawGet(s.port, '/%E0%A4%A'), 400, 'a malformed escape');
  } finally {
    await s.close();
  }
});

test('startWebServer checks its options and its root', async () => {
  await assert.rejects(
    startWebServer({ port: 70000 }),
    (e: unknown) =>
      e instanceof UsageError && /port must be an integer in \[0, 65535\], received 70000/.test(e.message),
  );
  await assert.rejects(startWebServer({ host: '' }), /host must be a non-empty string, received ""/);
  const empty = mkdtempSync(join(tmpdir(), 'syncbn-web-root-'));
  await assert.rejects(
    startWebServer({ port: 0, root: empty }),
    (e: unknown) => e instanceof IOError && /no browser build in .* \(run `npm run build`\)/.test(e.message),
  );
  writeFileSync(join(empty, 'index.html'), '<!doctype html><title>t</title>');
  const s = await startWebServer({ port: 0, root: empty });
  const taken = startWebServer({ port: s.port, root: empty });
  await assert.rejects(
    taken,
    (e: unknown) => e instanceof IOError && new RegExp(`cannot listen on 127.0.0.1:${s.port}`).test(e.message),
  );
  await s.close();
});

test('syncbn web: argument errors exit 2 with the usage', () => {
  assert.deepEqual(parseWebArgs([]), { port: 8080, host: '127.0.0.1' });
  assert.deepEqual(parseWebArgs(['--port', '0', '--host', '::1']), { port: 0, host: '::1' });
  assert.throws(() => parseWebArgs(['--port', 'x']), /--port must be an integer in \[0, 65535\], received "x"/);
  assert.throws(() => parseWebArgs(['--port', '65536']), /received "65536"/);
  assert.throws(() => parseWebArgs(['--bogus']), /syncbn web: Unknown option '--bogus'/);
  const r = syncbn(['web', '--port', '-1'], tmpdir());
  assert.equal(r.code, 2);
  assert.match(r.stderr, /usage: syncbn web \[--port P\] \[--host H\]/);
  assert.match(syncbn(['--help'], tmpdir()).stdout, /web\s+serve the browser page/);
});

test('syncbn web serves until SIGINT, then exits 0', async () => {
  const child = spawn(process.execPath, [MAIN, 'web', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code} before serving: ${out}`)));
    });
    const r = await fetch(url);
    assert.equal(r.status, 200);
    assert.match(await r.text(), /<title>syncbn in the browser/);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
