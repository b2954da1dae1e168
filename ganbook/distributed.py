"""Training on several processes with `torchrun` and `DistributedDataParallel` (DDP).

    torchrun --nproc_per_node=2 -m ganbook train --data ring --out runs/ring2

`torchrun` starts one process per device and tells each its place through environment variables
(RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). `setup_distributed` reads them and
joins the process group: gloo on the CPU, NCCL on CUDA (one GPU per process).

The book's scheme keeps a W-process run equal to a one-process run with the same global batch:

* every process draws the same *global* batch (the same seed, the same order) and keeps its own
  slice of it (`RankSlice` for real data; `fit` does the same with the noise z), so every
  process's random streams stay identical and the checkpoint of process 0 resumes them all;
* DDP averages the gradients of the W slices, which for a loss that is a mean over the batch is
  the gradient of the whole batch (Li et al., "PyTorch Distributed: Experiences on Accelerating
  Data Parallel Training", VLDB 2020, arXiv:2006.15704);
* on CUDA, `SyncBatchNorm` makes batch statistics those of the global batch, as in one
  process (it has no CPU version: there each process normalises over its own slice);
* process 0 alone writes checkpoints, logs and figures.

Up to the rounding of the gradient average, so, W processes give the one-process result (for a
DCGAN, only on GPUs). A folder of images too large for memory is the exception to the global
batch: its DataLoader gives each process its own share through a `DistributedSampler`, the usual
scheme for many GPUs, and a run resumes exactly with the same number of processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel


def world_size() -> int:
    """Processes in the running group (1 when training on one process)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's place in the group, 0 to world_size() - 1 (0 on one process)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    """True on the process that writes files: rank 0, or the only process."""
    return rank() == 0


def any_process(flag: bool) -> bool:
    """True if `flag` is True on any process (an all-reduce of one number under torchrun), so
    that all processes take the same branch, e.g. stop at the same step."""
    if world_size() == 1:
        return bool(flag)
    value = torch.tensor([float(flag)])
    if dist.get_backend() == "nccl":
        value = value.cuda()
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def launched_by_torchrun() -> bool:
    """True when torchrun (or another launcher) has set WORLD_SIZE above 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup_distributed(device: str | torch.device | None = None) -> torch.device:
    """Join the process group that torchrun described, and return this process's device.

    NCCL and `cuda:LOCAL_RANK` when CUDA is available (or `device` asks for it), gloo and the
    CPU otherwise. On a single process (no torchrun) it joins nothing and returns `device` (or
    the CPU). Call `cleanup_distributed` at the end.
    """
    if not launched_by_torchrun():
        return torch.device(device or "cpu")
    wanted = torch.device(device) if device is not None else None
    use_cuda = torch.cuda.is_available() if wanted is None else wanted.type == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but CUDA is not available here; "
                         "use --device cpu, which trains with the gloo backend")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def cleanup_distributed() -> None:
    """Leave the process group (nothing on one process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_for_ddp(module: nn.Module) -> nn.Module:
    """`module` wrapped in DDP, on CUDA with its BatchNorm layers made `SyncBatchNorm` (in place).

    The wrapper averages gradients across processes in `backward`; the unwrapped module keeps
    the parameters (its `state_dict` has the usual keys). SyncBatchNorm runs only on GPUs: on
    the CPU (gloo) each process's BatchNorm normalises over its own share of the batch, so a
    DCGAN trained on W CPU processes is close to, not equal to, one trained on one process.
    """
    device = next(module.parameters()).device
    if device.type == "cuda":
        nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda"
                                   else None)


def local_slice(batch: Tensor, world: int | None = None, index: int | None = None) -> Tensor:
    """This process's share of a global batch: rows [r n / W, (r + 1) n / W) of its n rows."""
    world = world_size() if world is None else world
    index = rank() if index is None else index
    n = batch.shape[0]
    if n % world:
        raise ValueError(f"a global batch of {n} rows does not split evenly over {world} "
                         "processes; choose a batch size divisible by the number of processes")
    share = n // world
    return batch[index * share:(index + 1) * share]


class RankSlice(Iterator):
    """Wraps an iterator of global batches (tensors, or tuples such as (x, y)) and yields this
    process's slice of each. Its state is the wrapped iterator's, the same on every process."""

    def __init__(self, batches: Iterator, world: int | None = None, index: int | None = None):
        self.batches = batches
        self.world = world_size() if world is None else world
        self.index = rank() if index is None else index

    def __next__(self) -> Tensor | tuple[Tensor, ...]:
        batch = next(self.batches)
        if isinstance(batch, Tensor):
            return local_slice(batch, self.world, self.index)
        return tuple(local_slice(t, self.world, self.index) for t in batch)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped iterator's state."""
        return self.batches.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the wrapped iterator's state."""
        self.batches.load_state_dict(state)
