# PyTorch (CPU, 1 thread) twins of bench/train.ts: the tiny CNN step, the ResNet-style block step, per-op autograd
# overhead.
# Served to bench/train.ts request by request (torch_serve.py): "<what> <count>" → per-call seconds.
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_serve import serve

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


def main():
    torch.manual_seed(0)
    y = torch.randint(0, 10, (8,))
    steps = {
        "tiny": train_step(Tiny(), torch.randn(8, 3, 32, 32), lambda out: F.cross_entropy(out, y)),
        "resnet": train_step(Block(), torch.randn(8, 64, 56, 56), lambda out: out.mean()),
        "overhead": overhead_step(),  # 201 ops per call
    }
    serve(steps)


if __name__ == "__main__":
    main()
