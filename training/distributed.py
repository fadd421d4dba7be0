"""Multi-process training on PyTorch's own engine: ``torchrun --nproc_per_node=N stylefusion train …``.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR; we join the process group (gloo on CPU,
nccl on CUDA), wrap the generator side and D in DistributedDataParallel, and let rank 0 alone
write logs, samples and checkpoints.
"""

from __future__ import annotations

import inspect
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def setup(device: torch.device) -> tuple[int, int]:
    """Join the process group if launched by torchrun; return (rank, world_size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    if not (dist.is_available() and dist.is_initialized()):
        return module
    ids = [device.index] if device.type == "cuda" else None
    # Our buffers are constants (the palette statistics), equal on every rank from the start, so
    # syncing them before each forward is wasted traffic. Newer torch renamed the switch.
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    no_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
    return DistributedDataParallel(module, device_ids=ids, **no_sync)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


def all_reduce_grads(module: torch.nn.Module) -> None:
    """Average gradients computed outside DDP's forward (the R1 pass, which needs double backward)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    world = dist.get_world_size()
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup(finished: bool) -> None:
    """Leave the process group. After a normal finish every rank first waits for the others, so
    no rank tears down its connections while a peer still uses them (gloo aborts the process
    then); after an error we leave at once, because the peers may never arrive."""
    if dist.is_available() and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def mean_across(values: dict[str, float]) -> dict[str, float]:
    if not (dist.is_available() and dist.is_initialized()) or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64)
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return dict(zip(values, t.tolist()))
