# PyTorch (CPU, 1 thread) conv2d forward / input-gradient / weight-gradient and GEMM timings for bench/gemm.ts; prints JSON lines.
# Usage: python3 bench/torch_conv.py '<json: {"conv": [{label, n, c, h, w, o, k, pad, stride}], "gemm": [[m, n, k]]}>'
import json
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
spec = json.loads(sys.argv[1])


def best_seconds(fn, budget=3.0, samples=60):
    for _ in range(3):
        fn()
    ts = []
    start = time.perf_counter()
    while len(ts) < samples and (time.perf_counter() - start < budget or len(ts) < 3):
        a = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - a)
    return min(ts)  # best of N, like bench/gemm.ts: the least disturbed run on a shared machine


def emit(name, value, unit):
    print(json.dumps({"name": name, "value": value, "unit": unit}), flush=True)


with torch.no_grad():
    for s in spec["conv"]:
        x = torch.randn(s["n"], s["c"], s["h"], s["w"])
        w = torch.randn(s["o"], s["c"], s["k"], s["k"])
        b = torch.randn(s["o"])
        pad, stride = s["pad"], s["stride"]
        y = F.conv2d(x, w, b, stride, pad)
        dy = torch.randn_like(y)
        flops = 2.0 * y.numel() * s["c"] * s["k"] * s["k"]
        fwd = best_seconds(lambda: F.conv2d(x, w, b, stride, pad))

        def bwd(mask):
            return lambda: torch.ops.aten.convolution_backward(
                dy, x, w, [s["o"]], [stride, stride], [pad, pad], [1, 1], False, [0, 0], 1, mask)

        bin_ = best_seconds(bwd([True, False, False]))
        bw = best_seconds(bwd([False, True, True]))
        label = s["label"]
        emit(f"torch/conv2d_fwd_gflops/{label}", flops / fwd / 1e9, "GFLOP/s")
        emit(f"torch/conv2d_bwd_input_gflops/{label}", flops / bin_ / 1e9, "GFLOP/s")
        emit(f"torch/conv2d_bwd_weight_gflops/{label}", flops / bw / 1e9, "GFLOP/s")
        emit(f"torch/conv2d_bwd_gflops/{label}", 2 * flops / (bin_ + bw) / 1e9, "GFLOP/s")
        emit(f"torch/conv2d_ms/{label}/fwd", fwd * 1e3, "ms")
        emit(f"torch/conv2d_ms/{label}/bwd_input", bin_ * 1e3, "ms")
        emit(f"torch/conv2d_ms/{label}/bwd_weight", bw * 1e3, "ms")
    for m, n, k in spec["gemm"]:
        a = torch.randn(m, k)
        bm = torch.randn(k, n)
        t = best_seconds(lambda: torch.mm(a, bm))
        emit(f"torch/gemm_gflops/{m}x{n}x{k}", 2.0 * m * n * k / t / 1e9, "GFLOP/s")
