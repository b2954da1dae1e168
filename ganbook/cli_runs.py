"""What `python -m ganbook train` trains and what it writes: the models, configuration and batches
of a run (`build_run`), and its samples, figures and metrics (`write_outputs`), every file
written atomically. The command line itself (arguments, checks, locking, signals) is `ganbook.cli`.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import torch

from ganbook import bench
from ganbook.checkpoint import atomic_write_bytes
from ganbook.data import MixtureBatches, infinite_batches, load_images
from ganbook.metrics import mode_coverage
from ganbook.models import sample_latent
from ganbook.recipes import MIXTURE_RECIPES, DigitsRecipe
from ganbook.train import TrainConfig, ema_copy


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


def build_run(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Models, config, batches and `run_info` of the run `args` asks for (nothing trained yet)."""
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
    if args.data == "digits":
        with torch.no_grad():
            fake = G(sample_latent(64, G.latent_dim, generator=noise, device=device))
        show_images(fake, nrow=8, title=f"generated digits after {config.num_steps} steps")
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
