"""How many CPU threads a training run should use, chosen from the work one step does.

PyTorch runs each operation on all physical cores by default. For the book's small networks
that is slower, not faster: an operation on a 256 x 128 matrix takes microseconds, and
splitting it across threads costs more (waking and spin-waiting threads) than it saves, the
more so when another process is busy on the same cores. Measured on a 2-core machine
(`benchmarks/README.md`, "Threads"): the 2-D mixture recipe (32 MFLOP per forward batch) and the
8x8 digits DCGAN (8.5 MFLOP) run no faster on 2 threads than on 1, and several times slower
with another process running; a 32x32 DCGAN (4.5 GFLOP per batch of 64) runs 1.3x faster on 2.

So `fit` counts the floating-point operations of one forward pass of G and D on a batch, and
uses one thread below `SMALL_STEP_FLOPS` and the caller's thread count (torch's default unless
changed) above it. `TrainConfig.num_threads` overrides the choice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# Below this many FLOPs in one forward pass of D(G(z)) over a batch, one thread is fastest.
SMALL_STEP_FLOPS = 1e9


def forward_flops(G: nn.Module, D: nn.Module, batch_size: int) -> float:
    """FLOPs of one forward pass of D(G(z)) over `batch_size` latent codes (counted by
    `torch.utils.flop_counter.FlopCounterMode` on a small batch and scaled linearly).

    Runs in eval mode without gradients, so no BatchNorm statistic or spectral-norm vector moves;
    the modules' training modes are restored afterwards.
    """
    probe = 2 * getattr(D, "pack", 1)  # a batch D accepts (PacGAN packs rows in groups)
    device = next(G.parameters()).device
    z = torch.zeros(probe, G.latent_dim, device=device)
    y = None
    if getattr(G, "num_classes", None) is not None:
        y = torch.zeros(probe, dtype=torch.long, device=device)
    modes = (G.training, D.training)
    G.eval()
    D.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            x_fake = G(z) if y is None else G(z, y)
            D(x_fake) if y is None else D(x_fake, y)
    finally:
        G.train(modes[0])
        D.train(modes[1])
    return counter.get_total_flops() * batch_size / probe


def auto_num_threads(G: nn.Module, D: nn.Module, batch_size: int) -> int:
    """1 for a step below `SMALL_STEP_FLOPS`, otherwise the current `torch.get_num_threads()`."""
    return 1 if forward_flops(G, D, batch_size) < SMALL_STEP_FLOPS else torch.get_num_threads()


@contextlib.contextmanager
def cpu_threads(num_threads: int) -> Iterator[None]:
    """Run the body with `torch.set_num_threads(num_threads)`, then restore the previous count."""
    if not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be a positive int, got {num_threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
