# PyTorch BatchNorm2d (1 thread, train mode) twins of bench/kernels.ts, served to it request by request
# (torch_serve.py).
# Requests: "<what>/<layout>/<NxCxHxW> <count>" with what in bn_forward, bn_backward, bn_forward_backward.
# Like for like with our kernels bench: no fused ReLU on either side, and forward+backward clears the input
# gradient every call (ours writes dx into a fresh buffer; an accumulating x.grad would add a read-modify-write).
import torch

from torch_serve import serve

torch.set_num_threads(1)
SHAPES = [(8, 64, 56, 56), (32, 256, 28, 28)]


def steps_for(shape, layout):
    fmt = torch.channels_last if layout == 'nhwc' else torch.contiguous_format
    bn = torch.nn.BatchNorm2d(shape[1]).train()
    x = torch.randn(*shape).contiguous(memory_format=fmt)
    dy = torch.randn(*shape).contiguous(memory_format=fmt)
    _, mean, invstd = torch.native_batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, True, 0.1,
                                              1e-5)[:3]
    xr = x.clone().requires_grad_(True)

    def fwd():
        with torch.no_grad():
            bn(x)

    def bwd():
        torch.ops.aten.native_batch_norm_backward(dy, x, bn.weight, bn.running_mean, bn.running_var, mean, invstd,
                                                  True, 1e-5, [True, True, True])

    def fwd_bwd():
        xr.grad = None
        bn.weight.grad = None
        bn.bias.grad = None
        bn(xr).backward(dy)

    return {'bn_forward': fwd, 'bn_backward': bwd, 'bn_forward_backward': fwd_bwd}


class Lazy(dict):
    """Builds a shape's tensors on its first request (both shapes at once would double the memory)."""

    def __missing__(self, key):
        what, layout, tag = key.split('/')
        shape = tuple(int(d) for d in tag.split('x'))
        for name, fn in steps_for(shape, layout).items():
            self[f'{name}/{layout}/{tag}'] = fn
        return self[key]

    def __contains__(self, key):
        try:
            self[key]
            return True
        except (KeyError, ValueError):
            return False


if __name__ == '__main__':
    serve(Lazy())
