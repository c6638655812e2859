# Generates fixtures/bn/*.json from PyTorch (1.13) BatchNorm: forward, batch stats, running stats, dx, dγ, dβ.
# Run: /usr/bin/python3 scripts/gen_bn_fixtures.py
import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'bn')


def flat(t):
    """float32 values, shortest text that round-trips float32."""
    return [float('%.9g' % v) for v in t.detach().reshape(-1).tolist()]


def bn_module(rank, c, eps, momentum, affine):
    cls = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}[rank]
    return cls(c, eps=eps, momentum=momentum, affine=affine)


def case(gen, shape_ncx, channels_last, eps, momentum, affine, relu):
    """shape_ncx is PyTorch's logical (N, C, *) shape; the fixture stores arrays in their memory order."""
    rank = len(shape_ncx)
    c = shape_ncx[1]
    bn = bn_module(rank, c, eps, momentum, affine)
    with torch.no_grad():
        if affine:
            bn.weight.copy_(torch.rand(c, generator=gen) * 1.5 + 0.25)
            bn.bias.copy_(torch.randn(c, generator=gen))
        bn.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
        bn.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
    if momentum is None:
        bn.num_batches_tracked.fill_(2)  # becomes 3 in forward: factor 1/3
    # per-channel offsets and scales so channels differ
    offs = (torch.randn(c, generator=gen) * 3).reshape(1, c, *([1] * (rank - 2)))
    scal = (torch.rand(c, generator=gen) * 2 + 0.2).reshape(1, c, *([1] * (rank - 2)))
    x = torch.randn(*shape_ncx, generator=gen) * scal + offs
    dy = torch.randn(*shape_ncx, generator=gen)
    perm = [0] + list(range(2, rank)) + [1]  # (N, C, *) -> (N, *, C)
    if channels_last and rank in (4, 5):
        fmt = torch.channels_last if rank == 4 else torch.channels_last_3d
        x = x.contiguous(memory_format=fmt)
        dy = dy.contiguous(memory_format=fmt)
    rm0 = bn.running_mean.clone()
    rv0 = bn.running_var.clone()
    x.requires_grad_(True)
    bn.train()
    y = bn(x)
    if relu:
        y = F.relu(y)
    y.backward(dy)
    nbt = int(bn.num_batches_tracked.item())
    xd = x.detach().double()
    dims = [0] + list(range(2, rank))
    mean = xd.mean(dim=dims)
    var_b = xd.var(dim=dims, unbiased=False)
    var_u = xd.var(dim=dims, unbiased=True)

    def mem(t):
        return t.permute(*perm).contiguous() if channels_last else t.contiguous()

    stored_shape = [shape_ncx[i] for i in perm] if channels_last else list(shape_ncx)
    return {
        'shape': stored_shape,
        'channelsLast': channels_last,
        'eps': eps,
        'momentum': momentum,
        'affine': affine,
        'relu': relu,
        'numBatchesTracked': nbt,
        'x': flat(mem(x)),
        'dy': flat(mem(dy)),
        'weight': flat(bn.weight) if affine else None,
        'bias': flat(bn.bias) if affine else None,
        'runningMean0': flat(rm0),
        'runningVar0': flat(rv0),
        'y': flat(mem(y)),
        'mean': mean.tolist(),
        'varBiased': var_b.tolist(),
        'varUnbiased': var_u.tolist(),
        'runningMean': flat(bn.running_mean),
        'runningVar': flat(bn.running_var),
        'dx': flat(mem(x.grad)),
        'dWeight': flat(bn.weight.grad) if affine else None,
        'dBias': flat(bn.bias.grad) if affine else None,
    }


SHAPES = {
    2: [(7, 3), (2, 1), (13, 5), (64, 9)],
    3: [(3, 4, 5), (2, 1, 7), (5, 6, 11), (1, 3, 2)],
    4: [(2, 3, 5, 7), (3, 1, 4, 4), (2, 9, 3, 5), (1, 4, 1, 3), (2, 17, 6, 5)],
    5: [(2, 3, 2, 3, 5), (1, 2, 3, 3, 3), (2, 5, 1, 2, 7), (3, 1, 2, 2, 2)],
}
EPS = [1e-5, 1e-3, 0.1]
MOMENTA = [0.1, None, 0.3]


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    os.makedirs(OUT, exist_ok=True)
    for rank, shapes in SHAPES.items():
        cases = []
        i = 0
        for shape in shapes:
            for channels_last in (False, True):
                eps = EPS[i % 3]
                momentum = MOMENTA[(i // 2) % 3]
                affine = i % 4 != 3
                relu = i % 3 == 1
                cases.append(case(gen, shape, channels_last, eps, momentum, affine, relu))
                i += 1
        # one extra each: affine off + relu together, and momentum None + affine off
        cases.append(case(gen, shapes[0], False, 1e-5, None, False, True))
        cases.append(case(gen, shapes[-1], True, 1e-4, 0.1, False, False))
        path = os.path.join(OUT, f'rank{rank}.json')
        with open(path, 'w') as f:
            json.dump({'generator': 'scripts/gen_bn_fixtures.py', 'torch': torch.__version__, 'cases': cases}, f,
                      separators=(',', ':'))
        print(path, len(cases), os.path.getsize(path))


if __name__ == '__main__':
    main()
