// The server behind `syncbn web`: the browser build (dist/web) with the headers that make a page cross-origin isolated.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IOError, UsageError, describe } from '../errors.js';
import { loadDigits } from '../data/mnist.js';
import { packDigits } from '../data/digits.js';

/** The browser build that `npm run build` writes (scripts/build-web.mjs). */
export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

/**
 * Sent with every response. COOP same-origin + COEP require-corp make the page cross-origin isolated, the condition
 * under which browsers enable SharedArrayBuffer (and so shared-memory rings between workers); CORP same-origin lets
 * our own files load under COEP. nosniff: a file is only ever used as its declared type.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

/** MIME types of what the build holds; wasm must be application/wasm for WebAssembly.compileStreaming. */
export const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.bin': 'application/octet-stream',
};

export interface WebServerOptions {
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Directory to serve. Default the package's dist/web. */
  root?: string;
}

/** A listening server: its URL (http://host:port/) and how to stop it. */
export interface WebServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serve the browser build: GET/HEAD of its files, `/` → index.html, `/digits.bin` → the packed MNIST digits of the
 * installed `mnist` package (built on first request; the scenes the page trains on are then the Node demo's, bit
 * for bit). Paths outside the root are 404, other methods 405.
 */
export async function startWebServer(opts: WebServerOptions = {}): Promise<WebServer> {
  const port = opts.port ?? 8080;
  const host = opts.host ?? '127.0.0.1';
  const root = opts.root ?? WEB_ROOT;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`syncbn web: port must be an integer in [0, 65535], received ${describe(port)}`);
  if (typeof host !== 'string' || host === '')
    throw new UsageError(`syncbn web: host must be a non-empty string, received ${describe(host)}`);
  if (!existsSync(join(root, 'index.html')))
    throw new IOError(`syncbn web: no browser build in ${JSON.stringify(root)} (run \`npm run build\`)`);
  let digits: Uint8Array | null = null;
  const server = createServer((req, res) => {
    try {
      serve(req, res);
    } catch (e) {
      send(res, 500, 'text/plain; charset=utf-8', `${(e as Error).name}: ${(e as Error).message}\n`);
    }
  });
  function serve(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return send(res, 400, 'text/plain; charset=utf-8', 'bad path\n');
    }
    if (path === '/') path = '/index.html';
    if (path === '/digits.bin') {
      digits ??= packDigits(loadDigits());
      return send(res, 200, MIME['.bin']!, digits, req.method === 'HEAD');
    }
    const file = normalize(join(root, path));
    const inside = file.startsWith(root.endsWith(sep) ? root : root + sep);
    const type = MIME[extname(file)];
    if (!inside || type === undefined || !existsSync(file) || !statSync(file).isFile()) {
      return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
    send(res, 200, type, readFileSync(file), req.method === 'HEAD');
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new IOError(`syncbn web: cannot listen on ${host}:${port}: ${e.message}`)));
    server.listen(port, host, resolve);
  });
  const bound = (server.address() as { port: number }).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${bound}/`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array, headOnly = false): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, {
    ...ISOLATION_HEADERS,
    'Content-Type': type,
    'Content-Length': bytes.byteLength,
    'Cache-Control': 'no-cache',
  });
  res.end(headOnly ? undefined : bytes);
}
