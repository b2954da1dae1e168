"""Any iterable of batches as the endless stream `fit` draws from.

`fit` asks for one real batch per discriminator update, for as many updates as the run has, so it
needs a stream that never ends. ganbook's own iterators (`InfiniteBatches`, `MixtureBatches`)
are endless already. A `torch.utils.data.DataLoader`, a list of tensors or any other re-iterable
object is one epoch long; `EpochBatches` turns it into an endless stream: it starts a new epoch
whenever one runs out, calls ``sampler.set_epoch(epoch)`` first where the sampler has it (which
a `DistributedSampler` needs to reshuffle), and moves every batch to the training device.

Resuming: `EpochBatches` records the epoch and the position in it. When the sampler's order is a
function of the epoch alone (a `DistributedSampler`, seeded), a resumed stream re-draws that
epoch's order and skips the batches already used, so it yields exactly the batches an
uninterrupted run would have (skipping loads those batches once more). A plain shuffling
DataLoader draws its order from torch's global random state, which nothing restores: a resumed
stream continues with the saved epoch in a new order, and says so with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor


def to_device(batch: Any, device: torch.device | None) -> Any:
    """`batch` (a tensor, or a tuple/list of them, e.g. (images, labels)) on `device`.

    Tensors already there are returned as they are; pinned CPU tensors copy asynchronously.
    """
    if device is None:
        return batch
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=batch.is_pinned())
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(t, device) for t in batch)
    return batch


def sampler_of(source: Iterable) -> Any:
    """The sampler of a DataLoader (its batch sampler's, when it has one), else None."""
    batch_sampler = getattr(source, "batch_sampler", None)
    return getattr(batch_sampler, "sampler", None) or getattr(source, "sampler", None)


class EpochBatches(Iterator):
    """Endless batches from `source`, a re-iterable of batches (a DataLoader, a list of tensors).

    Each epoch is one ``iter(source)``; before it, ``sampler.set_epoch(epoch)`` is called where
    the source's sampler has that method. Batches are moved to `device` (None: left where they
    are). `exact_resume` says whether `load_state_dict` reproduces the stream exactly: True when
    the sampler has ``set_epoch`` (its order then depends on the epoch alone), else False.
    """

    def __init__(self, source: Iterable, device: str | torch.device | None = None) -> None:
        if isinstance(source, (Tensor, Iterator)):
            kind = "a tensor" if isinstance(source, Tensor) else "an iterator"
            raise TypeError(f"EpochBatches needs a re-iterable source such as a DataLoader or a "
                            f"list of batches, got {kind}; for a tensor of examples use "
                            "ganbook.data.infinite_batches(tensor, batch_size)")
        self.source = source
        self.device = None if device is None else torch.device(device)
        self.sampler = sampler_of(source)
        self.exact_resume = hasattr(self.sampler, "set_epoch")
        self._start_epoch(0)

    def _start_epoch(self, epoch: int) -> None:
        self.epoch, self.position = epoch, 0
        if self.exact_resume:
            self.sampler.set_epoch(epoch)
        self._iterator = iter(self.source)

    def __next__(self) -> Any:
        try:
            batch = next(self._iterator)
        except StopIteration:
            if self.position == 0:
                raise ValueError(
                    "the data yielded no batch in a whole epoch; if it is a DataLoader with "
                    "drop_last=True, it holds fewer examples than one batch: use a smaller "
                    "batch_size or more data") from None
            self._start_epoch(self.epoch + 1)
            return next(self)
        self.position += 1
        return to_device(batch, self.device)

    def state_dict(self) -> dict[str, Any]:
        """The epoch, the number of batches of it already yielded, and whether that is enough
        to resume exactly (see the class docstring)."""
        return {"epoch": self.epoch, "position": self.position, "exact": self.exact_resume}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state`: exactly when the sampler has ``set_epoch``, else at the start
        of the saved epoch in a new order (with a warning that says so)."""
        self._start_epoch(int(state["epoch"]))
        if not self.exact_resume:
            warnings.warn(
                f"resuming at epoch {self.epoch}: this data's shuffled order cannot be restored "
                "(its sampler has no set_epoch), so the epoch starts again in a new order. "
                "Use ganbook's iterators or a DataLoader with a DistributedSampler for an exact "
                "resume.", stacklevel=2)
            return
        for _ in range(int(state["position"])):  # re-draw the batches already trained on
            next(self._iterator)
        self.position = int(state["position"])


def next_batch(stream: Iterator, device: torch.device) -> Any:
    """The next batch of `stream` on `device`; a finite iterator that runs out is a ValueError
    that says what to pass instead, not a bare StopIteration."""
    try:
        batch = next(stream)
    except StopIteration:
        raise ValueError("the batch iterator ran out before training ended: fit draws a batch "
                         "for every discriminator update, so pass an endless iterator "
                         "(ganbook.data.infinite_batches) or the iterable itself (a DataLoader "
                         "or a list), which fit cycles epoch after epoch") from None
    return to_device(batch, device)


def batch_stream(batches: Iterable | Iterator, device: torch.device) -> Iterator:
    """What `fit` trains on: `batches` itself when it is an iterator (ganbook's are endless),
    else `EpochBatches(batches, device)`, which cycles a DataLoader or list epoch after epoch."""
    if isinstance(batches, Tensor):
        raise TypeError("fit needs batches, not one tensor: pass "
                        "ganbook.data.infinite_batches(tensor, batch_size, device=device)")
    if isinstance(batches, Iterator):
        return batches
    if not isinstance(batches, Iterable):
        raise TypeError(f"fit needs an iterable of batches (a DataLoader, a list, or ganbook's "
                        f"infinite_batches), got {type(batches).__name__}")
    return EpochBatches(batches, device)
