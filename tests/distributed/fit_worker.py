"""Run by tests/test_distributed.py under torchrun: a few `fit` steps of the recommended mixture
recipe, each process on its slice of the global batch; process 0 saves weights and gradients."""

import dataclasses
import sys

import torch

from ganbook.data import MixtureBatches, ring_mixture
from ganbook.distributed import RankSlice, cleanup_distributed, is_main_process, setup_distributed
from ganbook.recipes import MIXTURE_RECIPES
from ganbook.train import fit


def main(out: str, steps: int) -> None:
    device = setup_distributed("cpu")
    recipe = MIXTURE_RECIPES["recommended"]
    config = dataclasses.replace(recipe.train, num_steps=steps, lr_decay_fraction=0.0,
                                 ema_decay=0.0, progress=False)
    G, D = recipe.build(seed=0)
    batches = RankSlice(MixtureBatches(ring_mixture(), config.batch_size, seed=0, device=device))
    fit(G, D, batches, config)
    if is_main_process():
        torch.save({"G": G.state_dict(), "D": D.state_dict(),
                    "grad_G": [p.grad for p in G.parameters()],
                    "grad_D": [p.grad for p in D.parameters()]}, out)
    cleanup_distributed()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
