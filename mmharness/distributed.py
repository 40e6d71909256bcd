"""Data parallelism through ``torch.distributed`` (launched by ``torchrun``).

Under torchrun (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set by the launcher), each rank answers the
samples ``rank::world_size`` of every task, caching its own responses in the shared cache; the
responses are gathered to rank 0, which scores and writes the results, and the results document is
broadcast back so every rank's ``evaluate()`` returns the same thing. The backend is gloo on the
CPU and nccl on CUDA. Because the cache is keyed by sample id (never by rank), a run resumed with a
different number of processes reuses everything already computed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run: rank, world size, and whether it owns the process group."""

    rank: int = 0
    world_size: int = 1
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """True when the torchrun launcher set the standard rendezvous variables."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def setup(device: str) -> tuple[DistContext, str]:
    """Join the process group when launched by torchrun; returns the context and this rank's device.

    ``device`` is the resolved device; under torchrun a CUDA device becomes ``cuda:LOCAL_RANK``.
    """
    if not launched_by_torchrun():
        return DistContext(), device
    import torch
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
        owns = True
    return DistContext(dist.get_rank(), dist.get_world_size(), owns), device


def gather_to_main(ctx: DistContext, obj: Any) -> list[Any] | None:
    """Every rank's ``obj`` on rank 0 (in rank order); None on the other ranks."""
    if not ctx.active:
        return [obj]
    import torch.distributed as dist

    out = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast_from_main(ctx: DistContext, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not ctx.active:
        return obj
    import torch.distributed as dist

    box = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def teardown(ctx: DistContext) -> None:
    """Leave the process group if this module created it."""
    if ctx.owns_group:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
