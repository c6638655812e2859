# PyTorch DDP (gloo, 2 processes on loopback, 1 thread each) twin of bench/syncbn.ts's tiny-CNN configurations, as JSON
# lines.
# torch 1.13's SyncBatchNorm runs only on CUDA, so the synced configuration is DDP with per-worker BatchNorm
# (our `localbn`). Same interleaving as ours: inside the same two processes, 40 blocks of (1 warm-up + 3 timed
# steps) per configuration: `ddp` (both ranks, DDP), `independent` (each rank its own model, no communication)
# and `one` (rank 0 alone while rank 1 waits at a barrier). Prints medians of every timed step, in ms.
import statistics
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from bench_gloo import run_ranks
from bench_torch_train import Tiny  # the same model as bench/train.ts's PyTorch twin

BLOCKS, PER = 40, 3


def trainer(model, rank):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(rank + 7)
    x = torch.randn(8, 3, 32, 32, generator=g)
    y = torch.tensor([(i * 3 + rank) % 10 for i in range(8)])

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def worker(rank, world, port, q):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    torch.manual_seed(0)
    cfgs = {
        'ddp': trainer(nn.parallel.DistributedDataParallel(Tiny()), rank),
        'independent': trainer(Tiny(), rank),
        'one': trainer(Tiny(), 0) if rank == 0 else None,
    }
    for _ in range(5):
        for f in cfgs.values():
            if f is not None:
                f()
    times = {k: [] for k in cfgs}
    for _ in range(BLOCKS):
        for k, f in cfgs.items():
            dist.barrier()
            if f is None:
                continue
            f()
            for _ in range(PER):
                t = time.perf_counter()
                f()
                times[k].append((time.perf_counter() - t) * 1e3)
    dist.barrier()
    if rank == 0:
        q.put([{'name': f'torch/tiny_cnn_step_ms/{k}', 'value': statistics.median(v), 'unit': 'ms'}
               for k, v in times.items()])
    dist.destroy_process_group()


def main():
    run_ranks(worker)


if __name__ == '__main__':
    main()
