# PyTorch GroupNorm forward + backward time (1 thread) for bench/kernels.ts: JSON lines {"name","value","unit"}: median and best ms.
# argv: NxCxHxW groups
import json
import statistics
import sys
import time

import torch

torch.set_num_threads(1)


def main():
    n, c, h, w = (int(d) for d in sys.argv[1].split('x'))
    groups = int(sys.argv[2])
    gn = torch.nn.GroupNorm(groups, c)
    x = torch.randn(n, c, h, w).requires_grad_(True)
    dy = torch.randn(n, c, h, w)

    def step():
        x.grad = None
        gn.zero_grad()
        gn(x).backward(dy)

    for _ in range(3):
        step()
    ts = []
    t0 = time.perf_counter()
    for _ in range(15):
        t = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t)
        if time.perf_counter() - t0 > 10 and len(ts) >= 3:
            break
    tag = f'{n}x{c}x{h}x{w}/g{groups}'
    for stat, v in (('', statistics.median(ts)), ('/best', min(ts))):
        print(json.dumps({'name': f'torch/gn_forward_backward/{tag}{stat}', 'value': v * 1e3, 'unit': 'ms'}), flush=True)


if __name__ == '__main__':
    main()
