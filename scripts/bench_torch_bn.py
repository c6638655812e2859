# PyTorch BatchNorm2d throughput (1 thread, train mode) for bench/kernels.ts: JSON lines {"name","value","unit"} in GB/s of input.
import json
import sys
import time

import torch

torch.set_num_threads(1)
SHAPES = [(8, 64, 56, 56), (32, 256, 28, 28)]


def best_time(fn, samples=11, warmup=2):
    """fastest of `samples` calls: the same rule bench/kernels.ts uses for ours"""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(samples):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def emit(name, value, unit='GB/s'):
    print(json.dumps({'name': name, 'value': value, 'unit': unit}), flush=True)


def main():
    # argv: [NxCxHxW ...] [nchw|nhwc ...]; default every shape and both layouts
    shapes = [tuple(int(d) for d in a.split('x')) for a in sys.argv[1:] if 'x' in a] or SHAPES
    layouts = [a for a in sys.argv[1:] if a in ('nchw', 'nhwc')] or ['nchw', 'nhwc']
    for shape in shapes:
        n, c, h, w = shape
        tag = 'x'.join(map(str, shape))
        gb = n * c * h * w * 4 / 1e9
        for layout in layouts:
            fmt = torch.channels_last if layout == 'nhwc' else torch.contiguous_format
            bn = torch.nn.BatchNorm2d(c).train()
            x = torch.randn(*shape).contiguous(memory_format=fmt)
            dy = torch.randn(*shape).contiguous(memory_format=fmt)

            def fwd():
                with torch.no_grad():
                    bn(x)

            emit(f'torch/bn_forward/{layout}/{tag}', gb / best_time(fwd))
            _, mean, invstd = torch.native_batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, True, 0.1, 1e-5)[:3]

            def bwd():
                torch.ops.aten.native_batch_norm_backward(dy, x, bn.weight, bn.running_mean, bn.running_var, mean, invstd, True, 1e-5, [True, True, True])

            emit(f'torch/bn_backward/{layout}/{tag}', gb / best_time(bwd))
            xr = x.clone().requires_grad_(True)

            def fwd_bwd():
                bn(xr).backward(dy)

            emit(f'torch/bn_forward_backward/{layout}/{tag}', gb / best_time(fwd_bwd))


if __name__ == '__main__':
    main()
