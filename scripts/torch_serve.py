# The request loop shared by the PyTorch benchmark twins: the TypeScript side asks for "<what> <count>" and gets
# a JSON list of per-call seconds, so ours and PyTorch's samples alternate under the same machine load.
import json
import sys
import time


def times(step, count):
    """Per-call seconds of `count` calls of step()."""
    out = []
    for _ in range(count):
        a = time.perf_counter()
        step()
        out.append(time.perf_counter() - a)
    return out


def serve(steps):
    """Answer "<what> <count>" lines on stdin until EOF; an unknown name answers {"error": ...}."""
    print("ready", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 2 or parts[0] not in steps:
            print(json.dumps({"error": f"unknown request {line.strip()!r}"}), flush=True)
            continue
        print(json.dumps(times(steps[parts[0]], int(parts[1]))), flush=True)
