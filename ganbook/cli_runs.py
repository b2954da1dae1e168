"""What `python -m ganbook train` trains and what it writes: the models, configuration and batches
of a run (`build_run`), and its samples, figures and metrics (`write_outputs`), every file
written atomically. The command line itself (arguments, checks, locking, signals) is `ganbook.cli`.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from ganbook import bench
from ganbook.checkpoint import atomic_write_bytes
from ganbook.data import MixtureBatches, infinite_batches, load_images
from ganbook.distributed import rank, world_size
from ganbook.folder import folder_batches
from ganbook.metrics import mode_coverage
from ganbook.models import sample_latent
from ganbook.recipes import MIXTURE_RECIPES, DigitsRecipe, ImageRecipe
from ganbook.train import TrainConfig, ema_copy

IMAGE_DATA = ("digits", "folder")  # the data sets the CLI trains a DCGAN on
GRID_SIZE = 64  # samples in each grid of generated images


def run_config(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    """`base` with the overrides given on the command line."""
    overrides = {"loss": args.loss, "num_steps": args.steps, "batch_size": args.batch_size,
                 "lr_g": args.lr_g, "lr_d": args.lr_d, "n_critic": args.n_critic,
                 "lambda_gp": args.lambda_gp, "r1_gamma": args.r1_gamma}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(base, seed=args.seed, checkpoint_every=args.checkpoint_every,
                               progress=False if args.no_progress else None, **overrides)


def save_figure(path: Path) -> None:
    """Write the current matplotlib figure to `path` as a PNG, atomically."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    plt.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def save_grid(path: Path, images: torch.Tensor) -> None:
    """Write images in [-1, 1] (N, C, H, W) as one PNG grid of 8 columns, atomically."""
    from torchvision.transforms.v2.functional import to_pil_image
    from torchvision.utils import make_grid

    grid = make_grid((images.detach().float().cpu() + 1) / 2, nrow=8, padding=2, pad_value=1.0)
    buffer = io.BytesIO()
    to_pil_image(grid.clamp(0, 1)).save(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())


def sample_grids(args: argparse.Namespace, G: torch.nn.Module, device: torch.device,
                 num_steps: int):
    """A `fit` callback that writes ``samples/step_NNNNNN.png`` from the same 64 codes every
    `--checkpoint-every` steps (and at the last step), so the grids show training progress."""
    z = sample_latent(GRID_SIZE, G.latent_dim, device=device,
                      generator=torch.Generator(device=device).manual_seed(args.seed + 1))
    folder = args.out / "samples"

    def callback(step: int, G: torch.nn.Module, D: torch.nn.Module, history: Any) -> None:
        every = args.checkpoint_every
        if rank() != 0 or not (step == num_steps or (every and step % every == 0)):
            return
        folder.mkdir(exist_ok=True)
        G.eval()
        with torch.no_grad():
            save_grid(folder / f"step_{step:06d}.png", G(z))
        G.train()

    return callback


def _folder_run(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    recipe = ImageRecipe(image_size=args.image_size, channels=args.channels)
    config = run_config(args, recipe.train)
    G, D = (m.to(device) for m in recipe.build(args.seed))
    batches, description = folder_batches(args.root, config.batch_size, args.image_size,
                                          args.channels, seed=args.seed, device=device,
                                          memory_limit=args.memory_limit * 2**20,
                                          world=world_size(), rank=rank())
    if rank() == 0:
        print(f"data: {description}", file=sys.stderr)
    streamed = isinstance(batches, DataLoader)  # else InfiniteBatches, in memory
    images = len(batches.dataset) if streamed else batches.num_examples
    info = {"data": "folder", "root": str(Path(args.root).expanduser().resolve()),
            "images": images, "image_size": args.image_size, "channels": args.channels}
    # Batches streamed by a DataLoader are already this process's share (DistributedSampler).
    return {"G": G, "D": D, "G_ema": None, "config": config, "batches": batches,
            "per_process": streamed, "run_info": info}


def build_run(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Models, config, batches and `run_info` of the run `args` asks for (nothing trained yet)."""
    if args.data == "folder":
        return _folder_run(args, device)
    if args.data == "digits":
        recipe = DigitsRecipe()
        config = run_config(args, recipe.train)
        images, _ = load_images("digits", split="train")
        G, D = (m.to(device) for m in recipe.build(args.seed))
        batches = infinite_batches(images, config.batch_size, seed=args.seed, device=device)
        return {"G": G, "D": D, "G_ema": None, "config": config, "batches": batches,
                "run_info": {"data": "digits", "recipe": "DigitsRecipe"}}
    recipe = MIXTURE_RECIPES[args.recipe]
    config = run_config(args, recipe.train)
    G, D = (m.to(device) for m in recipe.build(args.seed))
    batches = MixtureBatches(bench.MIXTURES[args.data](), config.batch_size, seed=args.seed,
                             device=device)
    return {"G": G, "D": D, "G_ema": ema_copy(G, config), "config": config, "batches": batches,
            "run_info": {"data": args.data, "recipe": args.recipe}}


def write_outputs(args: argparse.Namespace, run: dict[str, Any], device: torch.device) -> dict:
    """Samples, figures and metrics of the trained run (every file written atomically)."""
    import matplotlib.pyplot as plt

    from ganbook.viz import plot_2d, plot_history, show_images, snapshot_2d

    config, history = run["config"], run["history"]
    G = run["G"] if run["G_ema"] is None else run["G_ema"]  # the recipe samples from the average
    G.eval()
    noise = torch.Generator(device=device).manual_seed(args.seed + 1)
    if args.data in IMAGE_DATA:
        with torch.no_grad():
            fake = G(sample_latent(GRID_SIZE, G.latent_dim, generator=noise, device=device))
        what = "digits" if args.data == "digits" else "images"
        show_images(fake, nrow=8, title=f"generated {what} after {config.num_steps} steps")
        metrics = {"d_real": history.d_real[-1], "d_fake": history.d_fake[-1]}
    else:
        mixture = run["batches"].mixture
        with torch.no_grad():
            fake = G(sample_latent(2500, G.latent_dim, generator=noise, device=device))
        coverage = mode_coverage(fake, mixture.centers, mixture.std)
        bound = float(mixture.centers.abs().max()) + 1.0
        real = mixture.sample(2500, torch.Generator().manual_seed(args.seed + 2))
        plot_2d(snapshot_2d(config.num_steps, fake, run["D"], bounds=(-bound, bound)), real=real)
        metrics = {"modes": coverage.modes, "num_modes": mixture.num_modes,
                   "high_quality": coverage.high_quality, "reverse_kl": coverage.reverse_kl}
    save_figure(args.out / "samples.png")
    plot_history(history, smooth=25, title=f"{args.data}: {config.loss} loss")
    save_figure(args.out / "history.png")
    plt.close("all")
    metrics = {"data": args.data, "steps": len(history), "seconds": history.time[-1],
               "device": str(device), **metrics}
    atomic_write_bytes(args.out / "history.json", json.dumps(history.to_dict()).encode())
    atomic_write_bytes(args.out / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
    return metrics
