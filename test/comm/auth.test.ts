// TCP security and robustness: HMAC handshake, wrong tokens, garbage bytes, oversized and malformed frames, the
// rendezvous store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { AuthError, CommError } from '../../src/errors.js';
import { TCPStore, spawnProcesses } from '../../src/comm/index.js';
import { StoreServer } from '../../src/comm/tcp/store.js';
import { freePort } from '../../src/comm/launch.js';
import { Conn, F, FrameParser, acceptHandshake, connectHandshake, frameHeader } from '../../src/comm/tcp/frames.js';
import { values } from './helpers.js';

function pair(): Promise<[Socket, Socket, () => void]> {
  return new Promise((resolve) => {
    const srv = createServer((a) => resolve([a, c, () => srv.close()]));
    let c: Socket;
    srv.listen(0, '127.0.0.1', () => {
      c = connect((srv.address() as { port: number }).port, '127.0.0.1');
    });
  });
}

test(
  'handshake: the right token authenticates both ways; a wrong one is rejected on both sides with ' + 'AuthError',
  async () => {
    {
      const [a, c, done] = await pair();
      const [hello] = await Promise.all([
        acceptHandshake(new Conn(a), 'secret', { purpose: 'mesh', size: 4 }, 2000),
        connectHandshake(new Conn(c), 'secret', { purpose: 'mesh', rank: 3, size: 4 }, 2000),
      ]);
      assert.deepEqual(hello, { purpose: 'mesh', rank: 3, size: 4 });
      a.destroy();
      c.destroy();
      done();
    }
    {
      const [a, c, done] = await pair();
      const [acc, con] = await Promise.allSettled([
        acceptHandshake(new Conn(a), 'secret', { purpose: 'mesh', size: 4 }, 2000),
        connectHandshake(new Conn(c), 'guess', { purpose: 'mesh', rank: 1, size: 4 }, 2000),
      ]);
      assert.equal(acc.status, 'rejected');
      assert.ok(acc.reason instanceof AuthError);
      assert.match(String(acc.reason.message), /authentication failed: the peer does not know the shared token/);
      assert.equal(con.status, 'rejected');
      assert.ok(con.reason instanceof AuthError);
      assert.match(String(con.reason.message), /rejected: authentication failed/);
      a.destroy();
      c.destroy();
      done();
    }
    {
      // World size disagreement is refused too.
      const [a, c, done] = await pair();
      const [acc] = await Promise.allSettled([
        acceptHandshake(new Conn(a), 't', { purpose: 'mesh', size: 4 }, 2000),
        connectHandshake(new Conn(c), 't', { purpose: 'mesh', rank: 1, size: 5 }, 2000),
      ]);
      assert.match(
        String((acc as PromiseRejectedResult).reason.message),
        /world size mismatch: this rank has WORLD_SIZE=4, the peer 5/,
      );
      a.destroy();
      c.destroy();
      done();
    }
  },
);

test(
  'handshake: garbage bytes and an oversized frame before authentication are refused without reading ' + 'them',
  async () => {
    for (const bytes of [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.concat([frameHeader(F.AUTH, 0xfffffff0), Buffer.alloc(64)]),
      Buffer.concat([frameHeader(F.DATA, 8), Buffer.alloc(8)]),
    ]) {
      const [a, c, done] = await pair();
      const acc = acceptHandshake(new Conn(a), 'secret', { purpose: 'mesh', size: 2 }, 2000);
      c.write(bytes);
      await assert.rejects(
        acc,
        (e: Error) => e instanceof AuthError && /malformed frame|expected an AUTH frame/.test(e.message),
      );
      a.destroy();
      c.destroy();
      done();
    }
  },
);

test('frame parser: frames split at every byte parse the same; limits and unknown types throw CommError', () => {
  const got: string[] = [];
  const p = new FrameParser({
    data: (b) => got.push(`d${b.length}`),
    frame: (t, b) => got.push(`f${t}:${b.toString()}`),
  });
  p.authenticated = true;
  const stream = Buffer.concat([
    frameHeader(F.PING, 0),
    frameHeader(F.DATA, 16),
    Buffer.alloc(16),
    frameHeader(F.ABORT, 3),
    Buffer.from('abc'),
  ]);
  for (let i = 0; i < stream.length; i++) p.feed(stream.subarray(i, i + 1));
  assert.deepEqual(
    got.filter((g) => !g.startsWith('d')),
    ['f6:', 'f7:abc'],
  );
  assert.equal(got.filter((g) => g.startsWith('d')).length, 16); // streamed byte by byte, never buffered
  const fresh = (): FrameParser =>
    Object.assign(new FrameParser({ data: () => {}, frame: () => {} }), { authenticated: true });
  assert.throws(
    () => fresh().feed(frameHeader(99, 0)),
    (e: Error) => e instanceof CommError && e.message === 'malformed frame: unknown type 99',
  );
  assert.throws(
    () => fresh().feed(frameHeader(F.DATA, (1 << 20) + 8)),
    /malformed frame: type 5 of 1048584 bytes exceeds the limit of 1048576 bytes/,
  );
  assert.throws(() => fresh().feed(frameHeader(F.ABORT, 1 << 30)), /exceeds the limit of 1048576 bytes/);
  assert.throws(() => fresh().feed(frameHeader(F.DATA, 12)), /not a multiple of 8/);
});

test(
  'TCPStore: set/get/add, get waits for a later set, wrong tokens and garbage are rejected while the store keeps ' +
    'serving',
  async () => {
    const srv = await StoreServer.listen('127.0.0.1', 0, 'tok');
    try {
      const a = await TCPStore.connect('127.0.0.1', srv.port, { token: 'tok', timeoutMs: 5000 });
      const b = await TCPStore.connect('127.0.0.1', srv.port, { token: 'tok', timeoutMs: 5000 });
      const later = b.get('k');
      await a.set('k', 'v1');
      assert.equal(await later, 'v1');
      assert.equal(await a.add('n', 2), 2);
      assert.equal(await b.add('n', 3), 5);
      await assert.rejects(
        TCPStore.connect('127.0.0.1', srv.port, { token: 'nope', timeoutMs: 5000 }),
        (e: Error) => e instanceof AuthError && /rejected: authentication failed/.test(e.message),
      );
      // Garbage and an oversized frame: the connection is closed, nothing is allocated, the store still answers.
      for (const junk of [Buffer.alloc(4096, 0x41), frameHeader(F.STORE_REQ, 0x7fffffff)]) {
        const s = connect(srv.port, '127.0.0.1');
        s.resume(); // read (and drop) the HELLO, so that we see the close
        await new Promise<void>((resolve) => {
          s.on('connect', () => s.write(junk));
          s.on('error', () => {});
          s.on('close', () => resolve());
        });
      }
      assert.equal(await b.get('k'), 'v1');
      await assert.rejects(b.get('missing', 100), /got no answer within 100 ms/);
      a.close();
      b.close();
    } finally {
      await srv.close();
    }
  },
);

test(
  'tcp ranks: a rank with the wrong token fails with AuthError, and rank 0 says so at once; garbage sent to a ' +
    "rank's mesh and data listeners mid-run does not disturb the run",
  async () => {
    // The default rendezvous timeout (60 s) and a 20 s deadline: rank 0 must learn of the failed
    // handshake itself, not wait for its timeout (a killed rank 0 would fail the assertions below).
    const outs = await spawnProcesses(2, async (pg) => pg.rank, [], {
      deadlineMs: 20_000,
      output: 'capture',
      env: { SYNCBN_RENDEZVOUS_TIMEOUT_MS: '60000' },
      rankEnv: (r): Record<string, string> => (r === 1 ? { SYNCBN_TOKEN: 'wrong-token' } : {}),
    });
    const e1 = outs[1]!.ok ? assert.fail('rank 1 succeeded') : outs[1]!.error;
    assert.equal(e1.name, 'AuthError');
    assert.match(
      e1.message,
      /^authenticating to 127\.0\.0\.1:\d+: rejected: authentication failed: the peer does not know the shared token \(SYNCBN_TOKEN\)$/,
    );
    const e0 = outs[0]!.ok ? assert.fail('rank 0 succeeded') : outs[0]!.error;
    assert.equal(e0.name, 'AuthError', e0.message);
    assert.match(
      e0.message,
      /^rank 0: rendezvous failed: 127\.0\.0\.1:\d+, claiming to be rank 1 of 2, failed authentication at the store: token mismatch \(SYNCBN_TOKEN differs\)$/,
    );

    const run = await spawnProcesses(
      2,
      async (pg, _args, lib) => {
        const a = new Float32Array(8).fill(pg.rank + 1);
        await pg.allReduce(a);
        if (pg.rank === 0) {
          // Find rank 1's listeners (mesh and direct data sockets) in the rendezvous store and throw junk at both.
          const st = await lib.TCPStore.connect('127.0.0.1', Number(process.env.MASTER_PORT), { timeoutMs: 5000 });
          const { host, port, dport } = JSON.parse(await st.get('syncbn/addr/1')) as {
            host: string;
            port: number;
            dport: number;
          };
          st.close();
          const net = await import('node:net');
          for (const p of [port, dport]) {
            await new Promise<void>((resolve) => {
              const s = net.connect(p, host, () => s.write(Buffer.alloc(100_000, 7)));
              s.resume();
              s.on('error', () => resolve());
              s.on('close', () => resolve());
            });
          }
        }
        await pg.barrier();
        pg.allReduceSync(a);
        return a[0];
      },
      [],
      { deadlineMs: 30_000, output: 'capture' },
    );
    assert.deepEqual(values(run), [6, 6]);
    const rejected =
      (run[1]!.stderr ?? '').match(
        /rejected a connection from 127\.0\.0\.1:\d+: authenticating 127\.0\.0\.1:\d+: malformed frame/g,
      ) ?? [];
    assert.equal(rejected.length, 2, run[1]!.stderr);
  },
);

/**
 * Inside a rank (self-contained): authenticate to the store at MASTER_PORT as a raw client and send `junk` in the same
 * write as AUTH.
 */
const storeJunk = async (junk: string, token: string): Promise<string> => {
  const net = await import('node:net');
  const { createHmac, randomBytes } = await import('node:crypto');
  const frame = (type: number, p: Buffer): Buffer => {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(p.length, 0);
    h.writeUInt32LE(type, 4);
    return Buffer.concat([h, p]);
  };
  return new Promise((resolve) => {
    const s = net.connect(Number(process.env.MASTER_PORT), '127.0.0.1');
    let got = Buffer.alloc(0);
    let sent = false;
    s.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (sent || got.length < 8 + 33) return;
      sent = true;
      const nonceS = got.subarray(9, 41);
      const nonceC = randomBytes(32);
      const id = Buffer.alloc(8); // rank 0, size 0: a plain store client
      const mac = createHmac('sha256', token)
        .update('syncbn/1')
        .update('store')
        .update('|client|')
        .update(nonceS)
        .update(nonceC)
        .update(id)
        .digest();
      s.write(Buffer.concat([frame(2, Buffer.concat([nonceC, id, mac])), frame(11, Buffer.from(junk))]));
    });
    s.on('error', () => {});
    s.on('close', () =>
      resolve(
        got.length > 41 && got.readUInt32LE(41 + 4) === 3
          ? 'authenticated, then closed'
          : `closed (${got.length} bytes)`,
      ),
    );
  });
};

function jsonError(text: string): string {
  try {
    JSON.parse(text);
    return 'parsed';
  } catch (e) {
    return (e as Error).message;
  }
}

test(
  'an authenticated store client sending a malformed request loses its connection with a warning; the group ' +
    'keeps working',
  async () => {
    const junks = ['{not json', 'null', '{"id":"x","op":"set","key":"k"}', '{"id":1,"op":"del","key":"k"}'];
    const outs = await spawnProcesses(
      2,
      async (pg, args) => {
        const [src, junks] = [args[0]!, JSON.parse(args[1]!) as string[]];
        const junk = new Function(`return (${src});`)() as (j: string, t: string) => Promise<string>;
        const a = new Float32Array(4).fill(pg.rank + 1);
        const seen: string[] = [];
        for (const j of junks) {
          if (pg.rank === 1) seen.push(await junk(j, process.env.SYNCBN_TOKEN!));
          pg.allReduceSync(a); // the group still works after each
        }
        return { seen, sum: a[0] };
      },
      [storeJunk.toString(), JSON.stringify(junks)],
      { deadlineMs: 30_000, output: 'capture' },
    );
    const v = values(outs);
    assert.deepEqual(v[1], { seen: junks.map(() => 'authenticated, then closed'), sum: 3 * 2 ** 3 });
    const warn = (outs[0]!.stderr ?? '').split('\n').filter((l) => l.startsWith('syncbn TCP store'));
    const head = /^syncbn TCP store: dropped the connection of authenticated client 127\.0\.0\.1:\d+: /;
    assert.equal(warn.length, 4, outs[0]!.stderr);
    warn.forEach((l) => assert.match(l, head));
    assert.deepEqual(
      warn.map((l) => l.replace(head, '')),
      [
        `malformed store request (9 bytes): not JSON (${jsonError('{not json')})`,
        'malformed store request: expected an object, received null',
        'malformed store request: id must be an integer, received "x"',
        'malformed store request: op must be "set", "get" or "add", received "del"',
      ],
    );
  },
);

test(
  'negative control: failed handshakes that do not claim a missing rank of this world do not abort a forming ' +
    'group',
  async () => {
    const port = await freePort();
    const strangers = (async (): Promise<string[]> => {
      await new Promise((r) => setTimeout(r, 300)); // rank 0's store is up; rank 1 starts 1 s late
      const tries = [{}, { rank: 1, size: 5 }, { rank: 0, size: 2 }, { rank: 7, size: 2 }];
      return Promise.all(
        tries.map((t) =>
          TCPStore.connect('127.0.0.1', port, { token: 'stranger', timeoutMs: 5000, ...t }).then(
            () => 'accepted',
            (e: Error) => e.name,
          ),
        ),
      );
    })();
    const outs = await spawnProcesses(2, async (pg) => pg.rank, [], {
      deadlineMs: 30_000,
      output: 'capture',
      env: { MASTER_PORT: String(port) },
      command: (r) => (r === 1 ? ['sh', '-c', 'sleep 1; exec "$0" "$@"'] : []),
    });
    assert.deepEqual(await strangers, ['AuthError', 'AuthError', 'AuthError', 'AuthError']);
    assert.deepEqual(values(outs), [0, 1]);
  },
);
