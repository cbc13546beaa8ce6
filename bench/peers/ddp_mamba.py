"""PyTorch DDP on mamba_ssm's MambaLMHeadModel: the peer of
`ssm bench train-lm --devices N` in issue 23's scaling table.

The model, step and measurement are e2e_mamba.py's (mamba-130m shape, f32,
random tokens, forward + cross-entropy + backward + AdamW), wrapped in
DistributedDataParallel over NCCL, one process a GPU (run under torchrun).
Each rank takes `--batch` / world sequences of every step; rank 0 prints one
JSON line: the median step, tokens/s of the whole group, and every rank's
peak allocated memory.

    torchrun --standalone --nproc_per_node 2 ddp_mamba.py --batch 16 --len 1024

Needs MAMBA_SRC as e2e_mamba.py; build the extension once before torchrun
(`python3 -c "import e2e_mamba; e2e_mamba.build_extension()"`), so the
ranks do not race to build it.
"""
import argparse
import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

import e2e_mamba


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, required=True, help="global batch (sequences per step)")
    parser.add_argument("--len", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    if args.batch % world:
        raise SystemExit(f"--batch {args.batch} does not split over {world} GPUs")
    local = args.batch // world
    e2e_mamba.build_extension()
    model = DistributedDataParallel(e2e_mamba.model(), device_ids=[torch.cuda.current_device()])
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(args.warmup + args.steps):
        ids = torch.randint(0, 50280, (local, args.len + 1), device="cuda")
        torch.cuda.synchronize()
        dist.barrier()
        t0 = time.perf_counter()
        logits = model(ids[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    peak = torch.tensor([torch.cuda.max_memory_allocated() / 2**20], device="cuda")
    peaks = [torch.zeros_like(peak) for _ in range(world)]
    dist.all_gather(peaks, peak)
    # The group's step is its slowest rank's.
    slowest = torch.tensor(times, device="cuda")
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    if rank == 0:
        times = sorted(slowest.tolist())
        med = times[len(times) // 2]
        e2e_mamba.emit(what="mamba_ssm.ddp_train_lm", model="mamba-130m", devices=world, batch=args.batch,
                       len=args.len, ms_per_step=round(med * 1e3, 1), tokens_per_s=round(args.batch * args.len / med),
                       peak_alloc_mib_per_gpu=[round(p.item()) for p in peaks], gpu=torch.cuda.get_device_name())
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
