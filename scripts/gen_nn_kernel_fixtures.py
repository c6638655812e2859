# Generates fixtures/nn_kernels.json: PyTorch conv2d (forward, both gradients), pooling and bilinear upsample cases for
# test/kernels/nn*.test.ts.
# Run with Debian's interpreter (it has torch): /usr/bin/python3 scripts/gen_nn_kernel_fixtures.py
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)


def f32(t):
    """Round to float32 and return a flat list (what the TypeScript side loads into Float32Array)."""
    return [float(v) for v in t.to(torch.float32).flatten().tolist()]


def rnd(*shape):
    # float32-representable inputs; the math below runs in float64 on them, so the fixture is the exact answer.
    return torch.randn(*shape, dtype=torch.float32).to(torch.float64)


def conv_case(n, c, h, w, o, kh, kw, stride=(1, 1), pad=(0, 0), dil=(1, 1), groups=1, bias=True):
    x = rnd(n, c, h, w).requires_grad_(True)
    wt = rnd(o, c // groups, kh, kw).requires_grad_(True)
    b = rnd(o).requires_grad_(True) if bias else None
    y = F.conv2d(x, wt, b, stride=stride, padding=pad, dilation=dil, groups=groups)
    dy = rnd(*y.shape)
    y.backward(dy)
    return {
        "geom": {"n": n, "cIn": c, "h": h, "w": w, "cOut": o, "kh": kh, "kw": kw,
                 "strideH": stride[0], "strideW": stride[1], "padH": pad[0], "padW": pad[1],
                 "dilationH": dil[0], "dilationW": dil[1], "groups": groups,
                 "outH": y.shape[2], "outW": y.shape[3]},
        "x": f32(x.detach()), "weight": f32(wt.detach()), "bias": f32(b.detach()) if bias else None,
        "dy": f32(dy), "out": f32(y.detach()), "dx": f32(x.grad), "dw": f32(wt.grad),
        "dbias": f32(b.grad) if bias else None,
    }


def pool_case(kind, n, c, h, w, k, stride, pad, ceil_mode):
    x = torch.randn(n, c, h, w, dtype=torch.float32).requires_grad_(True)
    if kind == "max":
        y, idx = F.max_pool2d(x, k, stride, pad, ceil_mode=ceil_mode, return_indices=True)
    else:
        y = F.avg_pool2d(x, k, stride, pad, ceil_mode=ceil_mode, count_include_pad=True)
        idx = None
    dy = torch.randn(*y.shape, dtype=torch.float32)
    y.backward(dy)
    return {
        "kind": kind,
        "geom": {"n": n, "c": c, "h": h, "w": w, "kh": k[0], "kw": k[1], "strideH": stride[0], "strideW": stride[1],
                 "padH": pad[0], "padW": pad[1], "outH": y.shape[2], "outW": y.shape[3]},
        "x": f32(x.detach()), "dy": f32(dy), "out": f32(y.detach()), "dx": f32(x.grad),
        "argmax": [int(v) for v in idx.flatten().tolist()] if idx is not None else None,
    }


def upsample_case(n, c, h, w, oh, ow):
    x = torch.randn(n, c, h, w, dtype=torch.float32).requires_grad_(True)
    y = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=False)
    dy = torch.randn(*y.shape, dtype=torch.float32)
    y.backward(dy)
    return {"n": n, "c": c, "h": h, "w": w, "outH": oh, "outW": ow,
            "x": f32(x.detach()), "dy": f32(dy), "out": f32(y.detach()), "dx": f32(x.grad)}


conv = [
    conv_case(2, 3, 7, 6, 4, 3, 3, pad=(1, 1)),
    conv_case(1, 4, 9, 8, 6, 3, 3, stride=(2, 2), pad=(1, 1), bias=False),
    conv_case(2, 4, 9, 9, 4, 3, 3, pad=(2, 2), dil=(2, 2), groups=2),
    conv_case(1, 6, 5, 7, 6, 3, 3, pad=(1, 1), groups=6),  # depthwise
    conv_case(2, 5, 6, 5, 7, 1, 1),
    conv_case(1, 3, 8, 7, 5, 2, 3, stride=(1, 2), pad=(0, 1), dil=(3, 1)),
    conv_case(3, 2, 4, 4, 3, 5, 5, pad=(2, 2)),
    conv_case(1, 16, 6, 6, 16, 3, 3, pad=(1, 1)),
]
pool = [
    pool_case("max", 2, 3, 7, 6, (3, 3), (2, 2), (1, 1), False),
    pool_case("max", 1, 2, 8, 9, (2, 2), (2, 2), (0, 0), True),
    pool_case("max", 1, 2, 5, 7, (2, 3), (1, 2), (1, 0), False),
    pool_case("avg", 2, 3, 7, 6, (3, 3), (2, 2), (1, 1), False),
    pool_case("avg", 1, 2, 8, 9, (3, 3), (2, 2), (1, 1), True),
    pool_case("avg", 1, 2, 5, 7, (2, 3), (1, 2), (1, 0), False),
]
upsample = [
    upsample_case(1, 2, 4, 5, 8, 10),
    upsample_case(2, 1, 5, 3, 7, 8),
    upsample_case(1, 2, 9, 8, 4, 3),
    upsample_case(1, 1, 1, 1, 3, 2),
]

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "nn_kernels.json")
with open(out, "w") as fh:
    json.dump({"generator": "scripts/gen_nn_kernel_fixtures.py", "torch": torch.__version__,
               "conv": conv, "pool": pool, "upsample": upsample}, fh)
print(out, os.path.getsize(out), "bytes")
