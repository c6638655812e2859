// The checkpoint manifest (JSON next to the safetensors data): its fields and their validation.
import { IOError, describe } from '../errors.js';

/** The JSON manifest of a checkpoint: what the data file must be, and the run's non-tensor state. */
export interface CheckpointManifest {
  format: 'syncbn-checkpoint';
  version: 1;
  step: number;
  worldSize: number;
  globalBatch: number | null;
  /** The data file, relative to the manifest's directory. */
  file: string;
  /** Its size in bytes and sha256 (hex): a truncated or corrupt file is detected before it is parsed. */
  bytes: number;
  sha256: string;
  tensors: string[];
  extra: Record<string, unknown>;
}

/** Check every field of a parsed manifest; IOError naming the first bad field, what was expected and what was found. */
export function validateManifest(raw: unknown, source: string): CheckpointManifest {
  const bad = (field: string, expected: string, v: unknown): never => {
    throw new IOError(
      `loadCheckpoint: ${source}: field ${JSON.stringify(field)}: expected ${expected}, ` + `received ${describe(v)}`,
    );
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad('(manifest)', 'a JSON object', raw);
  const m = raw as Record<string, unknown>;
  const int = (f: string, min: number): void => {
    if (!Number.isSafeInteger(m[f]) || (m[f] as number) < min) bad(f, `an integer ≥ ${min}`, m[f]);
  };
  if (m.format !== 'syncbn-checkpoint') bad('format', '"syncbn-checkpoint"', m.format);
  if (m.version !== 1) bad('version', '1', m.version);
  int('step', 0);
  int('worldSize', 1);
  if (m.globalBatch !== null) int('globalBatch', 1);
  const isName = typeof m.file === 'string' && /^[^/\\]+\.safetensors$/.test(m.file);
  if (!isName) bad('file', 'a file name ending in .safetensors', m.file);
  int('bytes', 8);
  const isSha = typeof m.sha256 === 'string' && /^[0-9a-f]{64}$/.test(m.sha256);
  if (!isSha) bad('sha256', '64 lowercase hex digits', m.sha256);
  const names = Array.isArray(m.tensors) && m.tensors.every((t) => typeof t === 'string');
  if (!names) bad('tensors', 'an array of names', m.tensors);
  if (m.extra === null || typeof m.extra !== 'object' || Array.isArray(m.extra)) bad('extra', 'a JSON object', m.extra);
  return m as unknown as CheckpointManifest;
}
