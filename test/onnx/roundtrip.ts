// Test helper: run a model with our engine and with ONNX Runtime, and compare per element.
import assert from 'node:assert/strict';
import { noGrad, type Tensor, type ExportableModule } from '../../src/index.js';
import { OnnxSession } from '../../src/onnx/index.js';

/** Our eval-mode output for x (a copy off the heap). */
export function ours(model: ExportableModule, x: Tensor): { data: Float32Array; shape: readonly number[] } {
  model.eval();
  const y = noGrad(() => model.forward(x));
  const r = { data: new Float32Array(y.data), shape: y.shape };
  y.dispose();
  return r;
}

/** ONNX Runtime's output on x, one thread, graph optimizations as given. */
export async function ort(
  bytes: Uint8Array,
  x: Tensor,
  optimization: 'disabled' | 'all' = 'disabled',
): Promise<{ data: Float32Array; shape: number[] }> {
  const s = await OnnxSession.create(bytes, { optimization });
  try {
    return await s.run(new Float32Array(x.data), x.shape);
  } finally {
    await s.close();
  }
}

/**
 * Mixed tolerance per element: |a − b| ≤ rtol·|b| + atol·max|b| (rtol = atol = 1e-4): relative where
 * values are large, scaled absolute where they cancel to near zero. Returns the worst ratio to the bound.
 */
export function assertMatch(
  a: { data: Float32Array; shape: readonly number[] },
  b: { data: Float32Array; shape: readonly number[] },
  rtol = 1e-4,
): number {
  assert.deepEqual([...a.shape], [...b.shape]);
  let scale = 0;
  for (const v of b.data) scale = Math.max(scale, Math.abs(v));
  assert.ok(scale > 0, 'reference output is all zeros: the comparison would prove nothing');
  let worst = 0;
  for (let i = 0; i < a.data.length; i++) {
    const bound = rtol * Math.abs(b.data[i]!) + rtol * scale;
    const err = Math.abs(a.data[i]! - b.data[i]!);
    if (!(err <= bound))
      assert.fail(`element ${i}: ours ${a.data[i]} vs ONNX Runtime ${b.data[i]} (|diff| ${err} > ${bound})`);
    worst = Math.max(worst, err / bound);
  }
  return worst;
}
