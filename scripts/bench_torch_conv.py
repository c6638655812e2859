# PyTorch (CPU, 1 thread) twins of bench/gemm.ts, served to it request by request (torch_serve.py).
# Usage: python3 scripts/bench_torch_conv.py \
#   '<json: {"conv": [{label, n, c, h, w, o, k, pad, stride}], "gemm": [[m, n, k]]}>'
# Requests: "conv/<label>/fwd|bwd_input|bwd_weight <count>", "gemm/<m>x<n>x<k> <count>" → per-call seconds.
import json
import sys

import torch
import torch.nn.functional as F

from torch_serve import serve

torch.set_num_threads(1)


def conv_steps(s):
    x = torch.randn(s["n"], s["c"], s["h"], s["w"])
    w = torch.randn(s["o"], s["c"], s["k"], s["k"])
    b = torch.randn(s["o"])
    pad, stride = s["pad"], s["stride"]
    dy = torch.randn_like(F.conv2d(x, w, b, stride, pad))

    def bwd(mask):
        return lambda: torch.ops.aten.convolution_backward(
            dy, x, w, [s["o"]], [stride, stride], [pad, pad], [1, 1], False, [0, 0], 1, mask)

    return {
        "fwd": lambda: F.conv2d(x, w, b, stride, pad),
        "bwd_input": bwd([True, False, False]),
        "bwd_weight": bwd([False, True, True]),
    }


def main():
    spec = json.loads(sys.argv[1])
    steps = {}
    for s in spec["conv"]:
        for part, fn in conv_steps(s).items():
            steps[f"conv/{s['label']}/{part}"] = fn
    for m, n, k in spec["gemm"]:
        a, bm = torch.randn(m, k), torch.randn(k, n)
        steps[f"gemm/{m}x{n}x{k}"] = (lambda a, bm: lambda: torch.mm(a, bm))(a, bm)
    with torch.no_grad():
        serve(steps)


if __name__ == "__main__":
    main()
