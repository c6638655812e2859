// The PyTorch batch-norm fixtures (fixtures/bn/rank2–5.json, written by scripts/gen_bn_fixtures.py), shared by the
// kernel and SyncBN exchange tests.
import { readFileSync } from 'node:fs';

/** One torch.nn.functional.batch_norm case in training mode: inputs, outputs, running statistics and gradients. */
export interface Fixture {
  shape: number[];
  channelsLast: boolean;
  eps: number;
  momentum: number | null;
  affine: boolean;
  relu: boolean;
  numBatchesTracked: number;
  x: number[];
  dy: number[];
  weight: number[] | null;
  bias: number[] | null;
  runningMean0: number[];
  runningVar0: number[];
  y: number[];
  mean: number[];
  varBiased: number[];
  varUnbiased: number[];
  runningMean: number[];
  runningVar: number[];
  dx: number[];
  dWeight: number[] | null;
  dBias: number[] | null;
}

/** Every case of the four fixture files, with the file it came from. */
export function loadFixtures(): Array<Fixture & { file: string }> {
  const all: Array<Fixture & { file: string }> = [];
  for (const rank of [2, 3, 4, 5]) {
    const file = `rank${rank}.json`;
    const data = JSON.parse(readFileSync(new URL(`../../../fixtures/bn/${file}`, import.meta.url), 'utf8')) as {
      cases: Fixture[];
    };
    for (const c of data.cases) all.push({ ...c, file });
  }
  return all;
}
