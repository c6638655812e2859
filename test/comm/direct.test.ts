// The rank-thread TCP data path: a byte stream through rings and zero-copy reads and writes arrives whole and in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { Ring } from '../../src/comm/ring.js';
import { DirectLink, releaseToRank } from '../../src/comm/tcp/direct.js';

async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer({ noDelay: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const c = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, noDelay: true });
  await new Promise<void>((r) => c.once('connect', r));
  const s = await accepted;
  server.close();
  return [c, s];
}

function ring(cap: number): Ring {
  return new Ring(new SharedArrayBuffer(Ring.bytes(cap)), 0, cap);
}

/** Deterministic pseudo-random sizes. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

test(
  'direct link: ring pushes, zero-copy writes and zero-copy reads interleaved at random keep a 3 MB stream whole ' +
    'and in order; end of stream is seen',
  async () => {
    const [a, b] = await socketPair();
    const fdA = releaseToRank(a, null);
    const fdB = releaseToRank(b, null);
    // Small rings so that they wrap many times; a zero-copy read starts with a partial 8-byte unit
    // whenever a read ended off a unit boundary.
    const A = new DirectLink(1, fdA, ring(4096), ring(4096));
    const inB = ring(8192);
    const B = new DirectLink(0, fdB, ring(4096), inB);
    const total = 3 << 20;
    const src = new Uint8Array(total).map((_, i) => (i * 7 + (i >> 11)) & 255);
    const got = new Uint8Array(total);
    const rnd = lcg(42);
    let sent = 0; // bytes of src queued (ring) or written (zero-copy)
    let zsend: number | null = null; // end of the zero-copy write under way
    let recvd = 0;
    let zrecv: number | null = null;
    let zeroReads = 0;
    let zeroWrites = 0;
    let partialStarts = 0;
    const deadline = Date.now() + 20_000;
    while (recvd < total) {
      assert.ok(Date.now() < deadline, `stalled at ${recvd} of ${total} bytes received`);
      // sender: a zero-copy write when the outbox is empty, else ring pushes; sizes off 8-byte units,
      // as TCP may cut the stream anywhere (the receiver must see reads end off unit boundaries)
      if (zsend !== null) {
        const to = A.write(src, sent, zsend);
        sent = to;
        if (to >= zsend) zsend = null;
      } else if (sent < total) {
        const out = (A as unknown as { out: Ring }).out;
        if (out.pending() === 0 && rnd() < 0.3) {
          zsend = Math.min(total, sent + Math.ceil(rnd() * 300_000));
          zeroWrites++;
        } else {
          const n = Math.min(out.free(), total - sent, Math.ceil(rnd() * 2400));
          if (n > 0) {
            out.push(src, sent, n, n);
            sent += n;
          }
        }
      }
      A.send();
      // receiver: a zero-copy read of a unit-aligned range, or the ring
      if (zrecv !== null) {
        const to = B.readInto(got, recvd, zrecv);
        recvd = to;
        if (to >= zrecv) zrecv = null;
        else B.recv(); // the pump goes on with the same read
      } else if (inB.avail() === 0 && rnd() < 0.3 && total - recvd >= 8) {
        zrecv = Math.min(total, recvd + 8 * Math.ceil(rnd() * 30_000));
        if ((B as unknown as { unpub: number }).unpub > 0) partialStarts++;
        const to = B.readInto(got, recvd, zrecv);
        if (to > recvd) zeroReads++;
        recvd = to;
        if (to >= zrecv) zrecv = null;
      } else {
        B.recv();
        const n = Math.min(inB.avail(), total - recvd);
        if (n > 0) {
          inB.peekInto(got.subarray(recvd, recvd + n), n);
          inB.consume(n);
          recvd += n;
        }
      }
      if (recvd < total) await new Promise((r) => setImmediate(r));
    }
    assert.ok(
      zeroReads > 5 && zeroWrites > 5 && partialStarts > 0,
      `both zero-copy paths were taken (${zeroReads} reads, ${partialStarts} starting with a partial unit, ` +
        `${zeroWrites} writes)`,
    );
    for (let i = 0; i < total; i++) if (got[i] !== src[i]) assert.fail(`byte ${i}: got ${got[i]}, want ${src[i]}`);
    // The peer shuts its side down: the link sees the end of the stream, and reads stop.
    a.end();
    for (let i = 0; i < 200 && !B.eof; i++) {
      B.recv();
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(B.eof, true);
    A.detach();
    B.detach();
    a.destroy();
    b.destroy();
  },
);

test('direct link: a reset connection marks the link broken with the error code, never throws', async () => {
  const [a, b] = await socketPair();
  const fdB = releaseToRank(b, null);
  const B = new DirectLink(0, fdB, ring(4096), ring(4096));
  a.resetAndDestroy();
  for (let i = 0; i < 200 && B.usable && !B.eof; i++) {
    B.recv();
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(B.usable, false);
  assert.equal(B.broken, 'ECONNRESET');
  B.detach();
  b.destroy();
});

test('direct link: bytes read before the hand-over are a protocol error, not silently lost', async () => {
  const [a, b] = await socketPair();
  assert.throws(
    () => releaseToRank(b, new Uint8Array(3)),
    /3 bytes arrived on a direct connection before this rank was ready/,
  );
  a.destroy();
  b.destroy();
});
