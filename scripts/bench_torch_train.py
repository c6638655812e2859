# PyTorch (CPU, 1 thread) twins of bench/train.ts: the tiny CNN step, the ResNet-style block step, per-op autograd overhead.
# Usage: python3 scripts/bench_torch_train.py            one shot: prints JSON lines {"name", "value", "unit"} (medians)
#        python3 scripts/bench_torch_train.py --serve    reads "<what> <count>" lines, answers each with a JSON list of
#                                                        per-call milliseconds (bench/train.ts interleaves with its own runs)
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)


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


def train_step(model, x, loss_fn):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x))
        loss.backward()
        opt.step()

    return step


def overhead_step():
    w = torch.tensor([0.5, -1, 2, 0.25], requires_grad=True)
    b = torch.ones(4, requires_grad=True)

    def step():
        h = w
        for _ in range(100):
            h = h * 0.99 + b
        h.sum().backward()
        w.grad = None
        b.grad = None

    return step


def times_ms(step, count):
    out = []
    for _ in range(count):
        a = time.perf_counter()
        step()
        out.append((time.perf_counter() - a) * 1000)
    return out


def main():
    torch.manual_seed(0)
    y = torch.randint(0, 10, (8,))
    steps = {
        "tiny": train_step(Tiny(), torch.randn(8, 3, 32, 32), lambda out: F.cross_entropy(out, y)),
        "resnet": train_step(Block(), torch.randn(8, 64, 56, 56), lambda out: out.mean()),
        "overhead": overhead_step(),  # 201 ops per call
    }
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        print("ready", flush=True)
        for line in sys.stdin:
            what, count = line.split()
            print(json.dumps(times_ms(steps[what], int(count))), flush=True)
        return
    for what, name, warm, n in [("tiny", "tiny_cnn_step_ms", 5, 30), ("resnet", "resnet_block_step_ms", 2, 8)]:
        times_ms(steps[what], warm)
        print(json.dumps({"name": "torch/" + name, "value": statistics.median(times_ms(steps[what], n)), "unit": "ms"}), flush=True)
    times_ms(steps["overhead"], 20)
    print(json.dumps({"name": "torch/autograd_overhead_us_per_op", "value": statistics.median(times_ms(steps["overhead"], 30)) * 1000 / 201, "unit": "µs"}), flush=True)


if __name__ == "__main__":
    main()
