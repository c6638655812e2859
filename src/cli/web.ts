// `syncbn web`: serve the browser page that trains the demo network with SyncBN across Web Workers.
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { startWebServer } from './web-server.js';
import type { Command } from './main.js';

const USAGE = `usage: syncbn web [--port P] [--host H]

Serves the browser page (docs/web.md) on http://H:P/ with the headers that make it cross-origin
isolated (Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp), so its
Web Workers can share memory. The page trains the demo SegNet on the real-digit scenes with SyncBN or
per-worker BN and shows loss and val mIoU live. Ctrl-C stops the server.
  --port P   TCP port (default 8080; 0: any free port)
  --host H   address to listen on (default 127.0.0.1: this machine only)`;

/** Parse and validate the command line. */
export function parseWebArgs(argv: string[]): { port: number; host: string } {
  let v;
  try {
    v = parseArgs({ args: argv, options: { port: { type: 'string' }, host: { type: 'string' } }, strict: true }).values;
  } catch (e) {
    throw new UsageError(`syncbn web: ${(e as Error).message}`);
  }
  const port = v.port === undefined ? 8080 : Number(v.port);
  if (v.port !== undefined && (!/^\d+$/.test(v.port) || port > 65535)) {
    throw new UsageError(`syncbn web: --port must be an integer in [0, 65535], received ${JSON.stringify(v.port)}`);
  }
  if (v.host === '') throw new UsageError('syncbn web: --host must not be empty');
  return { port, host: v.host ?? '127.0.0.1' };
}

export const webCommand: Command = {
  summary: 'serve the browser page: SyncBN training across Web Workers',
  usage: USAGE,
  async main(argv) {
    let a;
    try {
      a = parseWebArgs(argv);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      process.stderr.write(`${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    const server = await startWebServer(a);
    process.stdout.write(`syncbn web: serving ${server.url} (Ctrl-C to stop)\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    return 0;
  },
};
