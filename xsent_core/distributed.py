"""Data parallelism for the shared loop under `torchrun` / `accelerate launch`.

Those launchers set RANK / WORLD_SIZE / MASTER_ADDR; we join the process group
(gloo on CPU, nccl on CUDA), give each rank every WORLD_SIZE-th batch of the
same shuffled order, and average gradients with all_reduce after backward. That
is what DistributedDataParallel does, minus its bucketing, and it works with
any Method without wrapping its forward.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return DistInfo(
        rank=int(os.environ.get("RANK", "0")),
        world_size=world,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched with several processes; no-op otherwise."""
    info = dist_info()
    if info.enabled and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return info


def device_for_rank(device: torch.device, info: DistInfo) -> torch.device:
    """One GPU per process: cuda -> cuda:LOCAL_RANK."""
    if device.type == "cuda" and info.enabled and device.index is None:
        torch.cuda.set_device(info.local_rank)
        return torch.device("cuda", info.local_rank)
    return device


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    if not info.enabled:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        torch.distributed.all_reduce(p.grad, op=torch.distributed.ReduceOp.SUM)
        p.grad /= info.world_size


def barrier(info: DistInfo) -> None:
    if info.enabled:
        torch.distributed.barrier()


def broadcast_params(module: torch.nn.Module, info: DistInfo) -> None:
    """Start every rank from rank 0's weights."""
    if not info.enabled:
        return
    for p in module.parameters():
        if p.requires_grad:
            torch.distributed.broadcast(p.data, src=0)


def same_on_every_rank(value: int, info: DistInfo, device: torch.device) -> bool:
    """Whether every rank holds this `value` (e.g. the step it resumed at); True alone."""
    if not info.enabled:
        return True
    both = torch.tensor([value, -value], dtype=torch.long, device=device)  # nccl needs it on the GPU
    torch.distributed.all_reduce(both, op=torch.distributed.ReduceOp.MAX)
    return int(both[0]) == value == -int(both[1])


def any_rank_set(event: threading.Event | None, info: DistInfo, device: torch.device) -> bool:
    """Whether `event` (cancel, early stop) is set on any rank; every rank calls this at the same step.

    A stop that one rank alone acted on would leave the others waiting in
    all_reduce forever (only rank 0 evaluates, so only it sees early stopping).
    """
    here = event is not None and event.is_set()
    if not info.enabled:
        return here
    flag = torch.tensor([int(here)], device=device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())
