# PyTorch GroupNorm forward + backward (1 thread) twin of bench/kernels.ts, served request by request (torch_serve.py).
# argv: NxCxHxW groups; request "gn_forward_backward/<NxCxHxW>/g<groups> <count>" → per-call seconds.
import sys

import torch

from torch_serve import serve

torch.set_num_threads(1)


def main():
    n, c, h, w = (int(d) for d in sys.argv[1].split('x'))
    groups = int(sys.argv[2])
    gn = torch.nn.GroupNorm(groups, c)
    x = torch.randn(n, c, h, w).requires_grad_(True)
    dy = torch.randn(n, c, h, w)

    def step():
        # cleared every call: ours writes dx, dγ, dβ into their buffers (no accumulation)
        x.grad = None
        gn.zero_grad(set_to_none=True)
        gn(x).backward(dy)

    serve({f'gn_forward_backward/{n}x{c}x{h}x{w}/g{groups}': step})


if __name__ == '__main__':
    main()
