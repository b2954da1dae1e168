"""Command line: `python -m ganbook train --data ring --steps 2000 --out runs/ring`.

`train` parses arguments, builds the recipe's models and `TrainConfig`, trains with `fit`, and
writes `samples.png`, `history.png`, `history.json`, `metrics.json` and `checkpoint.pt` to
`--out`. `bench` prints the mode-coverage table of `ganbook.bench`. Nothing is downloaded: the
data are the embedded 2-D mixtures and bundled digits.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ganbook import bench
from ganbook.data import MixtureBatches, infinite_batches, load_images
from ganbook.losses import LOSSES
from ganbook.metrics import mode_coverage
from ganbook.models import sample_latent
from ganbook.recipes import MIXTURE_RECIPES, DigitsRecipe
from ganbook.train import TrainConfig, ema_copy, fit
from ganbook.utils import get_device, seed_everything
from ganbook.viz import plot_2d, plot_history, show_images, snapshot_2d


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m ganbook`."""
    parser = argparse.ArgumentParser(prog="python -m ganbook", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a GAN on an embedded dataset")
    train.add_argument("--data", choices=["ring", "grid", "digits"], default="ring")
    train.add_argument("--recipe", choices=sorted(MIXTURE_RECIPES), default="recommended",
                       help="settings for the 2-D mixtures (ignored for digits)")
    train.add_argument("--loss", choices=sorted(LOSSES), help="override the recipe's loss")
    train.add_argument("--steps", type=int, help="generator updates (recipe default if omitted)")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr-g", type=float)
    train.add_argument("--lr-d", type=float)
    train.add_argument("--n-critic", type=int)
    train.add_argument("--lambda-gp", type=float)
    train.add_argument("--r1-gamma", type=float)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    train.add_argument("--out", type=Path, required=True, help="output folder")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    bench.add_arguments(commands.add_parser(
        "bench", help="mode coverage of the mixture recipes, beside the published rows"))
    return parser


def _config(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    overrides = {"loss": args.loss, "num_steps": args.steps, "batch_size": args.batch_size,
                 "lr_g": args.lr_g, "lr_d": args.lr_d, "n_critic": args.n_critic,
                 "lambda_gp": args.lambda_gp, "r1_gamma": args.r1_gamma}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(base, seed=args.seed, progress=not args.no_progress, **overrides)


def _train_mixture(args: argparse.Namespace, device: torch.device) -> dict:
    mixture = bench.MIXTURES[args.data]()
    recipe = MIXTURE_RECIPES[args.recipe]
    config = _config(args, recipe.train)
    G, D = (m.to(device) for m in recipe.build(args.seed))
    batches = MixtureBatches(mixture, config.batch_size, seed=args.seed, device=device)
    G_ema = ema_copy(G, config)
    history = fit(G, D, batches, config, checkpoint_path=args.out / "checkpoint.pt",
                  resume=args.resume, G_ema=G_ema)
    G = G if G_ema is None else G_ema  # the recipe's samples come from the average
    G.eval()
    with torch.no_grad():
        noise = torch.Generator(device=device).manual_seed(args.seed + 1)
        fake = G(sample_latent(2500, G.latent_dim, generator=noise, device=device))
    coverage = mode_coverage(fake, mixture.centers, mixture.std)
    bound = float(mixture.centers.abs().max()) + 1.0
    real = mixture.sample(2500, torch.Generator().manual_seed(args.seed + 2))
    plot_2d(snapshot_2d(config.num_steps, fake, D, bounds=(-bound, bound)), real=real)
    plt.savefig(args.out / "samples.png", dpi=120, bbox_inches="tight")
    metrics = {"modes": coverage.modes, "num_modes": mixture.num_modes,
               "high_quality": coverage.high_quality, "reverse_kl": coverage.reverse_kl}
    return {"metrics": metrics, "history": history, "config": config}


def _train_digits(args: argparse.Namespace, device: torch.device) -> dict:
    recipe = DigitsRecipe()
    config = _config(args, recipe.train)
    images, _ = load_images("digits", split="train")
    G, D = (m.to(device) for m in recipe.build(args.seed))
    batches = infinite_batches(images, config.batch_size, seed=args.seed, device=device)
    history = fit(G, D, batches, config, checkpoint_path=args.out / "checkpoint.pt",
                  resume=args.resume)
    G.eval()
    with torch.no_grad():
        noise = torch.Generator(device=device).manual_seed(args.seed + 1)
        fake = G(sample_latent(64, G.latent_dim, generator=noise, device=device))
    show_images(fake, nrow=8, title=f"generated digits after {config.num_steps} steps")
    plt.savefig(args.out / "samples.png", dpi=120, bbox_inches="tight")
    metrics = {"d_real": history.d_real[-1], "d_fake": history.d_fake[-1]}
    return {"metrics": metrics, "history": history, "config": config}


def train(args: argparse.Namespace) -> dict:
    """Run the `train` command; returns the metrics written to `metrics.json`."""
    seed_everything(args.seed)
    device = get_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    run = (_train_digits if args.data == "digits" else _train_mixture)(args, device)
    history = run["history"]
    plot_history(history, smooth=25, title=f"{args.data}: {run['config'].loss} loss")
    plt.savefig(args.out / "history.png", dpi=120, bbox_inches="tight")
    plt.close("all")
    metrics = {"data": args.data, "steps": len(history), "seconds": history.time[-1],
               "device": str(device), **run["metrics"]}
    (args.out / "history.json").write_text(json.dumps(history.to_dict()))
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m ganbook`; returns the process exit code."""
    args = build_parser().parse_args(argv)
    plt.switch_backend("Agg")  # the CLI writes files; it never opens a window
    try:
        if args.command == "train":
            print(json.dumps(train(args), indent=2))
        else:
            bench.run(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
