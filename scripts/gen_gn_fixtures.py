# Generates fixtures/gn/cases.json from PyTorch (1.13) GroupNorm: forward, per-(n, g) mean/invstd, dx, dγ, dβ. Run: /usr/bin/python3 scripts/gen_gn_fixtures.py
#
# Inputs (x, dy, γ, β) are float32 values; PyTorch runs on them in float64, so the stored outputs are the exact answer
# for those inputs up to float64 rounding, and the tests measure our float32 kernels' own error against it.
import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'gn')


def flat(t, digits=9):
    """Shortest text that round-trips float32 (9 digits); outputs keep 12 digits of the float64 answer."""
    fmt = '%.' + str(digits) + 'g'
    return [float(fmt % v) for v in t.detach().reshape(-1).tolist()]


def case(gen, shape, groups, eps, affine, offset=0.0, std=1.0, note=''):
    n, c = shape[0], shape[1]
    # per-channel offsets and scales so the channels of one group differ (the group statistics mix them)
    bshape = (1, c) + (1,) * (len(shape) - 2)
    offs = (torch.randn(c, generator=gen) * 2 + offset).reshape(bshape)
    scal = ((torch.rand(c, generator=gen) * 1.5 + 0.25) * std).reshape(bshape)
    x = (torch.randn(*shape, generator=gen) * scal + offs).float()
    dy = torch.randn(*shape, generator=gen).float()
    gn = torch.nn.GroupNorm(groups, c, eps=eps, affine=affine).double()
    if affine:
        with torch.no_grad():
            gn.weight.copy_((torch.rand(c, generator=gen) * 1.5 + 0.25).float().double())
            gn.bias.copy_(torch.randn(c, generator=gen).float().double())
    xd = x.double().requires_grad_(True)
    y = gn(xd)
    y.backward(dy.double())
    xg = xd.detach().reshape(n, groups, -1)
    mean = xg.mean(-1)
    invstd = 1 / torch.sqrt(xg.var(-1, unbiased=False) + eps)
    return {
        'note': note,
        'shape': list(shape),
        'groups': groups,
        'eps': eps,
        'affine': affine,
        'x': flat(x),
        'dy': flat(dy),
        'weight': flat(gn.weight) if affine else None,
        'bias': flat(gn.bias) if affine else None,
        'y': flat(y, 12),
        'mean': mean.reshape(-1).tolist(),
        'invstd': invstd.reshape(-1).tolist(),
        'dx': flat(xd.grad, 12),
        'dWeight': flat(gn.weight.grad, 12) if affine else None,
        'dBias': flat(gn.bias.grad, 12) if affine else None,
    }


def main():
    gen = torch.Generator().manual_seed(2024)
    cases = [
        case(gen, (2, 6, 5), 3, 1e-5, True, note='rank 3'),
        case(gen, (3, 10, 3, 5), 5, 1e-5, True, note='C = 10 not a multiple of 4, odd spatial 15'),
        case(gen, (2, 8, 4, 4), 1, 1e-5, False, note='groups = 1 (LayerNorm-like), affine off'),
        case(gen, (2, 7, 3, 3), 7, 1e-3, True, note='groups = C (InstanceNorm-like), odd C and spatial'),
        case(gen, (1, 12, 6, 7), 4, 1e-5, True, note='N = 1'),
        case(gen, (5, 6), 2, 1e-5, True, note='rank 2, spatial 1'),
        case(gen, (2, 9, 5, 3), 3, 0.1, True, std=0.3, note='eps 0.1 comparable to the variance'),
        case(gen, (2, 4, 9, 5), 2, 1e-5, True, offset=3000.0, note='mean offset 3000, std ~1'),
        case(gen, (2, 6, 2, 3, 3), 3, 1e-4, False, note='rank 5, affine off'),
        case(gen, (3, 16, 7, 9), 4, 1e-5, True, note='long groups (4 channels x 63), SIMD body and tails'),
    ]
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, 'cases.json')
    with open(path, 'w') as f:
        json.dump({'generator': 'scripts/gen_gn_fixtures.py', 'torch': torch.__version__, 'cases': cases}, f, separators=(',', ':'))
    print(path, len(cases), os.path.getsize(path))


if __name__ == '__main__':
    main()
