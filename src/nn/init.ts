// Seeded parameter initializers with PyTorch's default formulas (kaiming_uniform with a=√5, uniform bias).
import { UsageError } from '../errors.js';
import { fmtShape } from '../tensor/shape.js';
import { defaultGenerator, type RandomGenerator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

/** (fan_in, fan_out) of a weight [out, in, *kernel] as torch.nn.init._calculate_fan_in_and_fan_out. */
export function fans(w: Tensor): { fanIn: number; fanOut: number } {
  if (w.ndim < 2)
    throw new UsageError(`init: fan in and fan out need a tensor with at least 2 dims, received ${fmtShape(w.shape)}`);
  let rf = 1;
  for (let i = 2; i < w.ndim; i++) rf *= w.shape[i]!;
  return { fanIn: w.shape[1]! * rf, fanOut: w.shape[0]! * rf };
}

/** Fill `t` in place from U(low, high) (torch.nn.init.uniform_); returns t. */
export function uniform_(t: Tensor, low: number, high: number, gen: RandomGenerator = defaultGenerator): Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = gen.uniform(low, high);
  t.version++;
  return t;
}

/** Fill `t` in place from N(mean, std²) (torch.nn.init.normal_); returns t. */
export function normal_(t: Tensor, mean = 0, std = 1, gen: RandomGenerator = defaultGenerator): Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = mean + std * gen.normal();
  t.version++;
  return t;
}

/** torch.nn.init.calculate_gain for leaky_relu with slope a: √(2/(1+a²)). */
export function leakyReluGain(a: number): number {
  return Math.sqrt(2 / (1 + a * a));
}

/** kaiming_uniform_(mode='fan_in', nonlinearity='leaky_relu'): U(±gain·√(3/fan_in)). */
export function kaimingUniform_(w: Tensor, a = 0, gen: RandomGenerator = defaultGenerator): Tensor {
  const { fanIn } = fans(w);
  const bound = fanIn === 0 ? 0 : leakyReluGain(a) * Math.sqrt(3 / fanIn);
  return uniform_(w, -bound, bound, gen);
}

/**
 * PyTorch's default for Conv*d and Linear (reset_parameters): weight kaiming_uniform(a=√5), which is
 * U(±1/√fan_in), and bias U(±1/√fan_in).
 */
export function defaultLayerInit(w: Tensor, bias: Tensor | null, gen: RandomGenerator = defaultGenerator): void {
  kaimingUniform_(w, Math.sqrt(5), gen);
  if (bias !== null) {
    const { fanIn } = fans(w);
    const b = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -b, b, gen);
  }
}
