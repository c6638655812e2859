#!/usr/bin/env python3
"""Generate fixtures/syncbn/*.json: a small CNN trained by torch with BatchNorm on the FULL batch.

The SyncBN test reproduces it with 4 thread ranks, each holding a quarter of every batch, and must
match the logits, losses, gradients, running statistics and parameters. Run with Debian's python3
(torch 1.13 CPU):  /usr/bin/python3 scripts/gen_syncbn_fixtures.py
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'syncbn')


class Net(nn.Module):
    """conv3x3 3→4, BN, ReLU, dilated conv3x3 4→6 (dilation 2), BN (momentum None), ReLU, GAP, linear 6→3."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=2, dilation=2, bias=False)
        self.bn2 = nn.BatchNorm2d(6, momentum=None)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def state(model):
    return {k: {'shape': list(v.shape), 'data': flat(v.float())} for k, v in model.state_dict().items()}


def main():
    torch.manual_seed(1234)
    steps, batch, size = 5, 8, 6
    model = Net()
    # perturb BN affine params away from (1, 0) so the test sees them
    with torch.no_grad():
        for bn in (model.bn1, model.bn2):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    # float32 initial weights, then a float64 run: the reference the TS float32 run must match to ~1e-5
    model = model.double()
    init = state(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    xs = (torch.randn(steps, batch, 3, size, size, dtype=torch.float64) * 2 + 0.5).float().double()
    ys = torch.randint(0, 3, (steps, batch))
    record = {'steps': []}
    model.train()
    for s in range(steps):
        opt.zero_grad()
        x = xs[s].clone().requires_grad_(True)
        logits = model(x)
        loss = F.cross_entropy(logits, ys[s])
        loss.backward()
        rec = {'loss': float(loss), 'logits': flat(logits), 'input_grad': flat(x.grad),
               'grads': {n: flat(p.grad) for n, p in model.named_parameters()}}
        record['steps'].append(rec)
        opt.step()
    out = {
        'generator': 'scripts/gen_syncbn_fixtures.py',
        'torch': torch.__version__,
        'model': 'conv1 3→4 k3 p1 (bias), bn1 (momentum 0.1), relu, conv2 4→6 k3 p2 d2 (no bias), bn2 (momentum None), '
                 'relu, mean over H,W, fc 6→3',
        'optimizer': {'lr': 0.1, 'momentum': 0.9, 'weight_decay': 1e-4},
        'batch': batch, 'size': size, 'eps': 1e-5,
        'inputs': {'shape': [steps, batch, 3, size, size], 'data': flat(xs)},
        'targets': [int(v) for v in ys.reshape(-1).tolist()],
        'init': init,
        'steps': record['steps'],
        'final': state(model),
    }
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, 'small_cnn.json')
    with open(path, 'w') as f:
        json.dump(out, f, separators=(',', ':'))
    print(f'wrote {path} ({os.path.getsize(path)} bytes)')


if __name__ == '__main__':
    main()
