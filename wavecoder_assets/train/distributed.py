"""Several processes training one model: the process group, DDP or FSDP wrapping, sums over ranks, and the full
(gathered) weights on rank 0 for saving.

The group is the one torchrun (or Ray Train) describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT): nccl on GPUs, gloo on CPUs. Without those variables this is one process, world size 1,
and nothing is wrapped.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

Parallelism = Literal["fsdp", "ddp"]
PARALLELISMS = get_args(Parallelism)


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, *values: float) -> list[float]:
        """Each value summed over the ranks (float64, so token counts stay exact)."""
        if self.size == 1:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def gather(self, value: int) -> list[int]:
        """One int from every rank, in rank order."""
        if self.size == 1:
            return [value]
        tensor = torch.zeros(self.size, dtype=torch.int64, device=self.device)
        tensor[self.rank] = value
        dist.all_reduce(tensor)
        return tensor.tolist()

    @contextlib.contextmanager
    def main_first(self):
        """Rank 0 runs the block before the others: a download or a GGUF dequantization happens once, and the
        other ranks then read it from the cache."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()


def local_device() -> torch.device:
    return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}") if torch.cuda.is_available() else torch.device("cpu")


def current_world() -> World:
    """This process's place in the initialized group; rank 0 of 1 when there is none."""
    if dist.is_available() and dist.is_initialized():
        return World(rank=dist.get_rank(), size=dist.get_world_size(), device=local_device())
    return World(rank=0, size=1, device=local_device())


def join_world() -> World:
    """Join the group the environment describes (a no-op for one process or a group already joined, e.g. by Ray)."""
    device = local_device()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", device_id=device if device.type == "cuda" else None)
    return current_world()


def leave_world() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_for_training(model: torch.nn.Module, parallelism: str, world: World) -> torch.nn.Module:
    """One process: the model on its device. DDP: a full replica per rank, gradients all-reduced. FSDP (FSDP2's
    fully_shard): every parameter sharded over the ranks, one all-gather unit per transformer block (the model's
    `_no_split_modules`) and one for the rest; the module is sharded in place, its parameters become DTensors."""
    if parallelism not in PARALLELISMS:
        raise ValueError(f"parallelism must be one of {PARALLELISMS}, not {parallelism!r}")
    if world.size == 1:
        return model.to(world.device)
    if parallelism == "ddp":
        return DistributedDataParallel(model.to(world.device), device_ids=[world.device] if world.device.type == "cuda" else None)
    from torch.distributed.device_mesh import init_device_mesh  # FSDP's imports (DTensor) take ~1.4 s: only when used
    from torch.distributed.fsdp import fully_shard

    # fully_shard moves each unit to the mesh's device as it shards it: no rank ever holds the whole model there.
    mesh = init_device_mesh(world.device.type, (world.size,))
    blocks = set(getattr(model, "_no_split_modules", None) or [])
    for module in model.modules():
        if type(module).__name__ in blocks:
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def full_model_on_main(model: torch.nn.Module, world: World, skeleton: Callable[[], torch.nn.Module]) -> torch.nn.Module | None:
    """The trained `model` (as passed to `wrap_for_training`) with whole, plain weights on rank 0, None on the others.
    Every rank must call this: for FSDP it all-gathers the shards into a CPU state dict on rank 0 and assigns it
    to `skeleton()`, the same architecture built on the meta device (no memory for a second copy)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from torch.distributed.fsdp import FSDPModule

    if not isinstance(model, FSDPModule):  # one process, or the replica DDP wrapped: whole already
        return model if world.is_main else None

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if not world.is_main:
        return None
    plain = skeleton()
    plain.load_state_dict(state, assign=True)
    return plain
