# torch.distributed gloo all_reduce on loopback with 2 processes: latency (median, p99) and busbw, as JSON lines for
# bench/comm.ts.
import json
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

LAT_SIZES = [129, 2049]
BW_SIZES = [65536, 1 << 20, 1 << 24]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def sorted_times(t, iters):
    """Seconds per blocking all_reduce of t, `iters` calls after a barrier, sorted."""
    dist.barrier()
    ts = []
    for _ in range(iters):
        a = time.perf_counter()
        dist.all_reduce(t)
        ts.append(time.perf_counter() - a)
    return sorted(ts)


def worker(rank, world, port, lat_iters, q):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    out = []
    for n in LAT_SIZES:
        t = torch.zeros(n, dtype=torch.float32)
        for _ in range(2000):  # the same warm-up as ours (bench/comm.ts)
            dist.all_reduce(t)
        ts = sorted_times(t, lat_iters)
        med = ts[len(ts) // 2]
        p99 = ts[min(len(ts) - 1, int(0.99 * len(ts)))]
        out.append({"name": f"gloo/allreduce_latency_us/{n}", "value": med * 1e6, "unit": "us"})
        out.append({"name": f"gloo/allreduce_p99_us/{n}", "value": p99 * 1e6, "unit": "us"})
    for n in BW_SIZES:
        t = torch.zeros(n, dtype=torch.float32)
        dist.all_reduce(t)
        ts = sorted_times(t, max(9, min(50, (64 << 20) // (n * 4))))
        med = ts[len(ts) // 2]
        busbw = n * 4 / med * 2 * (world - 1) / world / 1e9
        out.append({"name": f"gloo/allreduce_busbw/{n}", "value": busbw, "unit": "GB/s"})
    if rank == 0:
        q.put(out)
    dist.barrier()
    dist.destroy_process_group()


def run_ranks(target, *args, world=2):
    """Run target(rank, world, port, *args, queue) in `world` spawned processes on loopback; print the
    list of metrics rank 0 puts on the queue as JSON lines (also used by bench_torch_ddp.py)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=target, args=(r, world, port, *args, q)) for r in range(world)]
    for p in procs:
        p.start()
    out = q.get(timeout=600)
    for p in procs:
        p.join()
    for m in out:
        print(json.dumps(m), flush=True)


def main():
    run_ranks(worker, int(sys.argv[1]) if len(sys.argv) > 1 else 2000)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
