// Shared by `syncbn export` and `syncbn predict`: build a registered architecture by name and load safetensors weights.
import { UsageError } from '../errors.js';
import { loadModule } from '../io/safetensors.js';
import { createModel } from '../models/index.js';
import type { ExportableModule } from '../onnx/export.js';

/** Parse repeated `--opt key=value` (value as JSON when it parses — numbers, booleans — else a string). */
export function parseOpts(cmd: string, opts: readonly string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of opts ?? []) {
    const eq = o.indexOf('=');
    if (eq <= 0) throw new UsageError(`${cmd}: --opt must be key=value, received ${JSON.stringify(o)}`);
    const v = o.slice(eq + 1);
    let parsed: unknown = v;
    try {
      parsed = JSON.parse(v);
    } catch {
      // a plain string such as norm=groupnorm
    }
    out[o.slice(0, eq)] = parsed;
  }
  return out;
}

/** Parse "N,C,H,W" (positive integers). */
export function parseShape(cmd: string, flag: string, v: string): number[] {
  const dims = v.split(',').map((s) => Number(s.trim()));
  if (dims.length === 0 || !dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw new UsageError(
      `${cmd}: ${flag} must be comma-separated positive integers such as 1,1,64,64, received ${JSON.stringify(v)}`,
    );
  }
  return dims;
}

/** Build `arch` (createModel of src/models) with `opts`, load `weights` (strict: key lists on mismatch), eval mode. */
export function loadArchitecture(
  cmd: string,
  arch: string | undefined,
  opts: Record<string, unknown>,
  weights: string,
): ExportableModule {
  if (arch === undefined)
    throw new UsageError(
      `${cmd}: --arch NAME is required with a .safetensors model (the weights do not say which network they belong to)`,
    );
  const model = createModel(arch, opts) as ExportableModule;
  loadModule(weights, model);
  return model.eval();
}

/**
 * The error contract both model commands share: a UsageError from `parse` prints the message and the
 * usage (exit 2); an error from `body` prints `syncbn <cmd>: Name: message` (exit 2 for usage, else 1).
 */
export async function runModelCommand<A>(
  cmd: string,
  usage: string,
  argv: string[],
  parse: (argv: string[]) => A,
  body: (a: A) => Promise<number>,
): Promise<number> {
  let a: A;
  try {
    a = parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n\n${usage}\n`);
    return 2;
  }
  try {
    return await body(a);
  } catch (e) {
    process.stderr.write(`syncbn ${cmd}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}
