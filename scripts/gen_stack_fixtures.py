# Generates fixtures/stack/*: PyTorch references for the training stack (ops + gradients, losses, optimizers, schedules,
# a tiny CNN, safetensors).
# Run with Debian's interpreter (it has torch 1.13): /usr/bin/python3 scripts/gen_stack_fixtures.py
#   /usr/bin/python3 scripts/gen_stack_fixtures.py --verify FILE.safetensors
#     checks a file written by syncbn (see test/io).
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "stack")
torch.manual_seed(4)


def f32(t):
    """Flat list of the float32 values, 9 significant digits (round-trips float32, keeps the JSON small)."""
    return [float("%.9g" % v) for v in t.detach().to(torch.float32).flatten().tolist()]


def rnd(*shape, scale=1.0):
    # float32-representable inputs; the op math below runs in float64 on them, so fixtures are the exact answers.
    return (torch.randn(tuple(shape), dtype=torch.float32) * scale).to(torch.float64)


def case(name, fn, inputs, extra=None):
    """Run fn on float64 leaves, backprop a random upstream gradient, record inputs/output/grads."""
    leaves = {k: (v.clone().requires_grad_(True) if v is not None else None) for k, v in inputs.items()}
    y = fn(**leaves)
    dy = rnd(*y.shape)
    y.backward(dy)
    rec = {"name": name,
           "inputs": {k: {"shape": list(v.shape), "data": f32(v)} for k, v in inputs.items() if v is not None},
           "out": {"shape": list(y.shape), "data": f32(y)}, "dy": f32(dy),
           "grads": {k: f32(v.grad) for k, v in leaves.items() if v is not None}}
    if extra:
        rec.update(extra)
    return rec


def ops_cases():
    cs = []
    for (n, c, h, w, o, k, st, pd, dl, g, bias) in [
        (2, 3, 7, 6, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
        (1, 4, 9, 8, 6, (3, 2), (2, 1), (1, 0), (1, 1), 2, False),
        (2, 2, 9, 9, 3, (3, 3), (1, 1), (2, 2), (2, 2), 1, True),  # dilated, "same" size
        (1, 4, 5, 5, 4, (3, 3), (2, 2), (1, 1), (1, 1), 4, True),  # depthwise, stride 2
        (3, 1, 4, 4, 2, (1, 1), (1, 1), (0, 0), (1, 1), 1, True),  # 1x1
    ]:
        cs.append(case("conv2d",
                       lambda x, weight, bias=None, st=st, pd=pd, dl=dl, g=g: F.conv2d(x, weight, bias, st, pd, dl, g),
                       {"x": rnd(n, c, h, w), "weight": rnd(o, c // g, *k), "bias": rnd(o) if bias else None},
                       {"stride": list(st), "padding": list(pd), "dilation": list(dl), "groups": g}))
    cs.append(case("linear", lambda x, weight, bias: F.linear(x, weight, bias),
                   {"x": rnd(5, 7), "weight": rnd(3, 7), "bias": rnd(3)}))
    cs.append(case("linear", lambda x, weight: F.linear(x, weight), {"x": rnd(2, 3, 4), "weight": rnd(5, 4)}))
    for (k, st, pd, shape) in [((2, 2), (2, 2), (0, 0), (2, 3, 6, 6)), ((3, 3), (2, 2), (1, 1), (1, 2, 7, 5)),
                               ((3, 2), (1, 2), (1, 0), (2, 1, 5, 6))]:
        cs.append(case("maxPool2d", lambda x, k=k, st=st, pd=pd: F.max_pool2d(x, k, st, pd), {"x": rnd(*shape)},
                       {"kernelSize": list(k), "stride": list(st), "padding": list(pd)}))
        cs.append(case("avgPool2d", lambda x, k=k, st=st, pd=pd: F.avg_pool2d(x, k, st, pd, count_include_pad=True),
                       {"x": rnd(*shape)},
                       {"kernelSize": list(k), "stride": list(st), "padding": list(pd)}))
    for (shape, osz) in [((2, 3, 5, 4), (1, 1)), ((1, 2, 7, 5), (3, 2)), ((1, 1, 4, 6), (4, 6))]:
        cs.append(case("adaptiveAvgPool2d", lambda x, osz=osz: F.adaptive_avg_pool2d(x, osz), {"x": rnd(*shape)},
                       {"outputSize": list(osz)}))
    for (shape, size) in [((1, 2, 4, 5), (7, 9)), ((2, 1, 3, 3), (6, 6)), ((1, 1, 6, 5), (3, 2))]:
        cs.append(case("upsampleBilinear",
                       lambda x, size=size: F.interpolate(x, size=size, mode="bilinear", align_corners=False),
                       {"x": rnd(*shape)}, {"size": list(size)}))
    cs.append(case("relu", lambda x: F.relu(x), {"x": rnd(3, 5)}))
    cs.append(case("add", lambda a, b: a + b, {"a": rnd(2, 3), "b": rnd(2, 3)}))
    cs.append(case("concat", lambda a, b, c: torch.cat([a, b, c], 1),
                   {"a": rnd(2, 1, 3, 2), "b": rnd(2, 3, 3, 2), "c": rnd(2, 2, 3, 2)}, {"dim": 1}))
    cs.append(case("concat", lambda a, b: torch.cat([a, b], 0), {"a": rnd(1, 4), "b": rnd(2, 4)}, {"dim": 0}))
    cs.append(case("flattenLinear", lambda x, weight: F.linear(torch.flatten(x, 1), weight),
                   {"x": rnd(2, 2, 2, 3), "weight": rnd(4, 12)}))
    return cs


def bn_cases():
    """BatchNorm layers in train and eval mode: output, grads, running stats after the step."""
    cs = []
    specs = [
        ("BatchNorm2d", (4, 3, 5, 4), dict(), True),
        ("BatchNorm2d", (4, 3, 5, 4), dict(), False),
        ("BatchNorm1d", (6, 5), dict(momentum=None), True),
        ("BatchNorm1d", (3, 4, 7), dict(momentum=0.3, eps=1e-3), True),
        ("BatchNorm3d", (2, 2, 3, 2, 4), dict(affine=False), True),
        ("BatchNorm2d", (3, 2, 3, 3), dict(track_running_stats=False), False),
    ]
    for (cls, shape, kw, train) in specs:
        c = shape[1]
        m = getattr(nn, cls)(c, **kw).double()
        with torch.no_grad():
            if m.affine:
                m.weight.copy_(rnd(c) * 0.5 + 1)
                m.bias.copy_(rnd(c) * 0.5)
            if m.track_running_stats:
                m.running_mean.copy_(rnd(c) * 0.2)
                m.running_var.copy_(rnd(c).abs() + 0.5)
                m.num_batches_tracked.fill_(2)
        init = {k: f32(v) for k, v in m.state_dict().items()}
        m.train(train)
        x = (rnd(*shape) * 2 + 0.5).requires_grad_(True)
        y = m(x)
        dy = rnd(*y.shape)
        y.backward(dy)
        after1 = {k: f32(v) for k, v in m.state_dict().items()}
        # a second step with other data exercises the running-average update twice (momentum None: 1/n)
        x2 = rnd(*shape) * 3 - 1
        with torch.no_grad():
            m(x2)
        cs.append({"layer": cls, "options": {k: v for k, v in kw.items()}, "training": train, "init": init,
                   "x": {"shape": list(shape), "data": f32(x)}, "out": f32(y), "dy": f32(dy), "dx": f32(x.grad),
                   "dweight": f32(m.weight.grad) if m.affine else None, "dbias": f32(m.bias.grad) if m.affine else None,
                   "after1": after1, "x2": f32(x2), "after2": {k: f32(v) for k, v in m.state_dict().items()}})
    return cs


def loss_cases():
    cs = []
    x = rnd(5, 4)
    t = torch.tensor([0, 3, 1, 3, 2])
    for red in ["mean", "sum", "none"]:
        cs.append(case("crossEntropy", lambda x, red=red: F.cross_entropy(x, t, reduction=red), {"x": x},
                       {"target": t.tolist(), "reduction": red, "ignoreIndex": -100}))
    x = rnd(2, 3, 4, 5) * 3
    t = torch.randint(0, 3, (2, 4, 5))
    t[0, 1, :3] = 255
    t[1, 3, 4] = 255
    for red in ["mean", "sum"]:
        cs.append(case("crossEntropy", lambda x, red=red: F.cross_entropy(x, t, ignore_index=255, reduction=red),
                       {"x": x},
                       {"target": t.flatten().tolist(), "reduction": red, "ignoreIndex": 255}))
    t2 = torch.tensor([1, -100, 2])
    cs.append(case("crossEntropy", lambda x: F.cross_entropy(x, t2), {"x": rnd(3, 3) * 10},
                   {"target": t2.tolist(), "reduction": "mean", "ignoreIndex": -100}))
    return cs


def optim_cases():
    """3 steps of each optimizer on one parameter with given gradients (float32, as users run them)."""
    cs = []
    p0 = torch.randn(7)
    grads = [torch.randn(7) for _ in range(3)]
    configs = [
        ("SGD", dict(lr=0.1)),
        ("SGD", dict(lr=0.1, momentum=0.9)),
        ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
        ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.001)),
        ("AdamW", dict(lr=0.01)),
        ("AdamW", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ]
    for name, kw in configs:
        p = p0.clone().requires_grad_(True)
        opt = getattr(torch.optim, name)([p], **kw)
        traj = []
        for g in grads:
            p.grad = g.clone()
            opt.step()
            traj.append(f32(p))
        cs.append({"optimizer": name, "options": kw, "p0": f32(p0), "grads": [f32(g) for g in grads], "after": traj})
    return cs


def schedule_cases():
    out = []
    for name, mk in [("PolyLR", lambda o: torch.optim.lr_scheduler.PolynomialLR(o, total_iters=6, power=0.9)),
                     ("CosineAnnealingLR",
                      lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6, eta_min=0.01))]:
        o = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
        s = mk(o)
        lrs = [o.param_groups[0]["lr"]]
        for _ in range(8):
            o.step()
            s.step()
            lrs.append(o.param_groups[0]["lr"])
        out.append({"schedule": name, "lrs": lrs})
    return out


class TinyCNN(nn.Module):
    """The issue's tiny CNN: conv 3→16, BN, ReLU, conv 16→16, BN, ReLU, global average pool, linear 16→10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def cnn_case():
    torch.manual_seed(11)
    m = TinyCNN()
    init = {k: f32(v) for k, v in m.state_dict().items()}
    x = torch.randn(6, 3, 10, 10)
    y = torch.randint(0, 10, (6,))
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {"x": {"shape": list(x.shape), "data": f32(x)}, "y": y.tolist(),
            "sgd": {"lr": 0.1, "momentum": 0.9, "weightDecay": 1e-4},
            "init": init, "losses": losses, "after": {k: f32(v) for k, v in m.state_dict().items()}}


# ---- safetensors, parsed and written by hand (the `safetensors` package is not installed here) --------

DTYPES = {"F32": ("f", 4, torch.float32), "F64": ("d", 8, torch.float64), "I64": ("q", 8, torch.int64)}


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for k, t in tensors.items():
        code = {torch.float32: "F32", torch.int64: "I64", torch.float64: "F64"}[t.dtype]
        raw = t.contiguous().numpy().tobytes() if hasattr(t, "numpy") else b""
        header[k] = {"dtype": code, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        fmt, size, dt = DTYPES[v["dtype"]]
        a, b = v["data_offsets"]
        count = (b - a) // size
        vals = struct.unpack("<%d%s" % (count, fmt), buf[base + a:base + b])
        out[k] = torch.tensor(vals, dtype=dt).reshape(v["shape"])
    return header, out


def verify(path):
    """Load a safetensors file written by syncbn's test (test/io) into torch's TinyCNN; compare to expected values."""
    header, sd = read_safetensors(path)
    m = TinyCNN()
    sd = {k: (v if k.endswith("num_batches_tracked") else v.float()) for k, v in sd.items()}
    m.load_state_dict(sd, strict=True)
    torch.manual_seed(11)
    ref = TinyCNN()  # the same seed as cnn_case: the file holds these initial weights
    for k, v in ref.state_dict().items():
        if not torch.equal(m.state_dict()[k].to(v.dtype), v):
            raise SystemExit("verify: %s differs" % k)
    print("verify: %s loads into torch TinyCNN (%d tensors, metadata %s): OK"
          % (path, len(sd), header.get("__metadata__")))


def dump(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    print("wrote", name, os.path.getsize(os.path.join(OUT, name)), "bytes")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--verify":
        verify(sys.argv[2])
        return
    os.makedirs(OUT, exist_ok=True)
    dump("ops.json", {"ops": ops_cases(), "bn": bn_cases(), "loss": loss_cases()})
    dump("optim.json", {"optim": optim_cases(), "schedules": schedule_cases()})
    dump("tiny_cnn.json", cnn_case())
    torch.manual_seed(11)
    sd = TinyCNN().state_dict()  # num_batches_tracked stays int64, as torch saves it
    write_safetensors(os.path.join(OUT, "tiny_cnn_torch.safetensors"), sd, {"format": "pt"})
    print("wrote tiny_cnn_torch.safetensors")


if __name__ == "__main__":
    main()
