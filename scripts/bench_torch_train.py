# PyTorch (CPU, 1 thread) twins of bench/train.ts: the tiny CNN step and the ResNet-style block step; prints JSON lines.
# Usage: python3 scripts/bench_torch_train.py [samples]
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
SAMPLES = int(sys.argv[1]) if len(sys.argv) > 1 else 30


def median_ms(step, budget=10.0):
    for _ in range(5):
        step()
    ts = []
    start = time.perf_counter()
    while len(ts) < SAMPLES and (time.perf_counter() - start < budget or len(ts) < 3):
        a = time.perf_counter()
        step()
        ts.append(time.perf_counter() - a)
    return statistics.median(ts) * 1000


def emit(name, value, unit):
    print(json.dumps({"name": name, "value": value, "unit": unit}), flush=True)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Block(nn.Module):
    def __init__(self, c=64):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + x)


def bench(model, x, loss_fn):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x))
        loss.backward()
        opt.step()

    return median_ms(step)


torch.manual_seed(0)
y = torch.randint(0, 10, (8,))
emit("torch/tiny_cnn_step_ms", bench(Tiny(), torch.randn(8, 3, 32, 32), lambda out: F.cross_entropy(out, y)), "ms")
emit("torch/resnet_block_step_ms", bench(Block(), torch.randn(8, 64, 56, 56), lambda out: out.mean()), "ms")


def overhead_us():
    w = torch.tensor([0.5, -1, 2, 0.25], requires_grad=True)
    b = torch.ones(4, requires_grad=True)
    ops = 200

    def step():
        h = w
        for _ in range(ops // 2):
            h = h * 0.99 + b
        h.sum().backward()
        w.grad = None
        b.grad = None

    return median_ms(step, budget=5.0) * 1000 / (ops + 1)


emit("torch/autograd_overhead_us_per_op", overhead_us(), "µs")
