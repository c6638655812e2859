// The system Chromium for browser tests (puppeteer-core; never downloaded), and whether a missing one fails the run.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';
import { type PNG } from 'pngjs';

/** The system browser: $SYNCBN_CHROMIUM, else Debian's /usr/bin/chromium, else `chromium` on PATH. */
export function findChromium(): string | null {
  const env = process.env.SYNCBN_CHROMIUM;
  if (env) return existsSync(env) ? env : null;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (existsSync(p)) return p;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** In CI (CI set and not "false"/"0", or SYNCBN_REQUIRE_BROWSER=1) a missing browser fails instead of skipping. */
export const browserRequired =
  ['1', 'true'].includes((process.env.CI ?? '').toLowerCase()) || process.env.SYNCBN_REQUIRE_BROWSER === '1';

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Headless Chromium over a pipe, with its profile in `userDataDir`. */
export function launchChromium(executablePath: string, userDataDir: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath,
    headless: true,
    pipe: true,
    userDataDir,
    args: FLAGS,
    timeout: 120_000,
    protocolTimeout: 120_000,
  });
}

/** Luminance variance of an RGBA PNG and the fraction of pixels that are not near-white. */
export function pixelStats(png: PNG): { variance: number; inked: number } {
  let sum = 0;
  let sq = 0;
  let inked = 0;
  const n = png.width * png.height;
  for (let i = 0; i < n; i++) {
    const y = 0.299 * png.data[4 * i]! + 0.587 * png.data[4 * i + 1]! + 0.114 * png.data[4 * i + 2]!;
    sum += y;
    sq += y * y;
    if (y < 235) inked++;
  }
  const mean = sum / n;
  return { variance: sq / n - mean * mean, inked: inked / n };
}
