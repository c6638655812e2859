# PyTorch (CPU, 1 thread) twin of bench/demo.ts: one training step (AdamW) of the `syncbn demo` SegNet at batch 8.
# Same architecture and shapes as src/models/segnet.ts: 1×64×64 input, width 16, plain BatchNorm2d, 11 classes,
# bilinear ×4 (align_corners=False), per-pixel cross-entropy with ignore_index 255.
# Served to bench/demo.ts request by request (torch_serve.py): "demo <count>" → per-call seconds.
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_serve import serve

torch.set_num_threads(1)


def seg_net(width=16, classes=11):
    w2 = 2 * width

    def block(i, o, **conv):
        return [nn.Conv2d(i, o, 3, bias=False, **conv), nn.BatchNorm2d(o), nn.ReLU()]

    return nn.Sequential(
        *block(1, width, stride=2, padding=1),
        *block(width, w2, stride=2, padding=1),
        *block(w2, w2, padding=1),
        *block(w2, w2, padding=2, dilation=2),
        *block(w2, w2, padding=4, dilation=4),
        nn.Conv2d(w2, classes, 1),
        nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False),
    )


def demo_step():
    torch.manual_seed(0)
    model = seg_net()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    x = torch.randn(8, 1, 64, 64)
    y = torch.randint(0, 11, (8, 64, 64))
    y[torch.rand(8, 64, 64) < 0.05] = 255

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y, ignore_index=255)
        loss.backward()
        opt.step()

    return step


def main():
    serve({"demo": demo_step()})


if __name__ == "__main__":
    main()
