"""This process's place in a torchrun job: its rank, its share of the work, its GPU, the final wait.

Under `torchrun --nproc-per-node N` every process is a rank with its own device (cuda:LOCAL_RANK,
or the CPU) and its own traces; the only thing ranks say to each other is "I am done", through
torch.distributed's gloo backend (a barrier: no tensors travel, so NCCL is not needed). Without
torchrun this process is rank 0 of 1. Imports torch.distributed only when there are ranks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

T = TypeVar("T")

RENDEZVOUS = ("MASTER_ADDR", "MASTER_PORT")  # where the ranks meet; torchrun sets them with the rest
# Ranks finish their shares at different times, possibly hours apart: wait that long at the end.
FINISH_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class Rank:
    rank: int = 0
    world: int = 1
    local: int = 0  # the rank's number on its machine: which GPU it takes

    @classmethod
    def from_environment(cls) -> Rank:
        """As torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; rank 0 of 1 without them."""
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError:
            raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them)") from None
        if not 0 <= rank < world or local < 0:
            raise ValueError(f"rank {rank} of a world of {world}: not a torchrun rank")
        missing = [name for name in RENDEZVOUS if world > 1 and not os.environ.get(name)]
        if missing:
            raise ValueError(
                f"WORLD_SIZE is {world} but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
                "start the ranks with torchrun"
            )
        return cls(rank, world, local)

    @property
    def leads(self) -> bool:
        """Rank 0 reports progress and writes the merged index."""
        return self.rank == 0

    def share(self, items: Sequence[T]) -> list[T]:
        """Every world-th item from this rank's: a split that depends only on the item's place."""
        return list(items[self.rank :: self.world])

    def join(self) -> None:
        """Meet the other ranks (torchrun's rendezvous); nothing to do alone."""
        if self.world > 1:
            import torch.distributed as dist

            dist.init_process_group("gloo", timeout=FINISH_TIMEOUT)

    def use_gpu(self) -> None:
        """Make cuda:LOCAL_RANK this process's "cuda" device; ValueError where there is no such GPU."""
        import torch

        if not torch.cuda.is_available():
            raise ValueError("CUDA is not available; use --device cpu")
        count = torch.cuda.device_count()
        if self.local >= count:
            raise ValueError(f"LOCAL_RANK {self.local}, but this machine has {count} GPU{'s' if count > 1 else ''}")
        torch.cuda.set_device(self.local)

    def wait_for_all(self) -> None:
        """Return once every rank has called this (every share done); then leave the group."""
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
