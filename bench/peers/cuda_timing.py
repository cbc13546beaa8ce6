"""The GPU timing the peer scripts of this folder share (imported from the
script's own folder, which Python puts on the path)."""
import torch


def bench(fn, warm=3, iters=10):
    """Median milliseconds of `fn` over `iters` calls after `warm`, timed by
    CUDA events around each call with the device synchronised after it."""
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]
