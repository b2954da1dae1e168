"""Mode coverage on the ring (8 modes) and the grid (25 modes): the plain non-saturating GAN, the
remedies for mode collapse of chapter 7 (minibatch standard deviation, packing, unrolling) and
the recipe this book recommends, measured here, next to the published rows.

    python -m ganbook bench                         # 5 seeds, both data sets, CPU
    python -m ganbook bench --seeds 1 --data ring   # a quick look
    python benchmarks/mode_coverage.py              # the same, from a checkout
    python -m ganbook bench --out results.csv       # one row per run; rerun to continue

For every (data set, recipe, seed) it builds the recipe's (G, D) from the seed, trains them with
`ganbook.train.fit` on fresh samples from `MixtureBatches`, draws 2,500 samples from a noise
generator of its own (seeded apart from training), and scores them with
`ganbook.metrics.mode_coverage`: modes captured, the share of high-quality samples (within
3 standard deviations of their nearest mode) and the reverse KL of the mode histogram to the
uniform one. The table gives the mean ± standard deviation over seeds and the median wall-clock
seconds of one training run.

Published rows (the same data sets, sample counts and definitions):

* PacGAN Table 1, 10 trials: Lin, Khetan, Fanti & Oh, "PacGAN: The power of two samples in
  generative adversarial networks", NeurIPS 2018, arXiv:1712.04086.
* VEEGAN Table 1: Srivastava, Valkov, Russell, Gutmann & Sutton, "VEEGAN: Reducing Mode Collapse
  in GANs using Implicit Variational Learning", NeurIPS 2017, arXiv:1705.07761 (no reverse KL).

Their networks and training budgets differ from ours (PacGAN: a 4 x 400 generator with batch
norm and a maxout discriminator, trained far longer); the comparison is of results, not of equal
compute.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
import platform
import statistics
import time

import torch

from ganbook.data import MixtureBatches, MixtureOfGaussians, grid_mixture, ring_mixture
from ganbook.metrics import mode_coverage
from ganbook.models import sample_latent
from ganbook.recipes import MIXTURE_RECIPES, MixtureRecipe
from ganbook.train import ema_copy, fit

NUM_SAMPLES = 2500  # generated samples scored per run, as in both papers
EVAL_SEED = 10_000  # the scoring noise of seed s is seeded with EVAL_SEED + s, apart from training
MIXTURES = {"ring": ring_mixture, "grid": grid_mixture}

PACGAN = "published: PacGAN (Lin et al. 2018), Table 1"
VEEGAN = "published: VEEGAN (Srivastava et al. 2017), Table 1"
# data set -> rows of (method, source, modes, high-quality %, reverse KL or None)
PUBLISHED: dict[str, list[tuple[str, str, float, float, float | None]]] = {
    "ring": [("GAN", PACGAN, 6.3, 98.2, 0.45), ("PacGAN4", PACGAN, 7.8, 95.9, 0.07),
             ("GAN", VEEGAN, 1, 99.3, None), ("Unrolled GAN", VEEGAN, 7.6, 35.6, None),
             ("VEEGAN", VEEGAN, 8, 52.9, None)],
    "grid": [("GAN", PACGAN, 17.3, 94.8, 0.70), ("PacGAN4", PACGAN, 24.8, 93.6, 0.04),
             ("GAN", VEEGAN, 3.3, 0.5, None), ("Unrolled GAN", VEEGAN, 23.6, 16.0, None),
             ("VEEGAN", VEEGAN, 24.6, 40.0, None)],
}


def run_once(recipe: MixtureRecipe, mixture: MixtureOfGaussians, seed: int,
             device: torch.device) -> dict[str, float]:
    """Train `recipe` on `mixture` from `seed` and score 2,500 samples.

    Returns modes captured, high-quality samples in % and reverse KL (`mode_coverage`), and the
    seconds that training took.
    """
    G, D = (m.to(device) for m in recipe.build(seed))
    config = dataclasses.replace(recipe.train, seed=seed, progress=False)
    batches = MixtureBatches(mixture, config.batch_size, seed=seed, device=device)
    G_ema = ema_copy(G, config)
    start = time.perf_counter()
    fit(G, D, batches, config, G_ema=G_ema)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    G = G if G_ema is None else G_ema  # the recipe's samples come from the average
    G.eval()
    noise = torch.Generator(device=device).manual_seed(EVAL_SEED + seed)
    with torch.no_grad():
        x_fake = G(sample_latent(NUM_SAMPLES, G.latent_dim, generator=noise, device=device))
    score = mode_coverage(x_fake, mixture.centers, mixture.std)
    return {"modes": score.modes, "high_quality": 100 * score.high_quality,
            "reverse_kl": score.reverse_kl, "seconds": seconds}


def mean_std(values: list[float], digits: int) -> str:
    """'mean ± std' over seeds (sample std), or how many runs gave an infinite value."""
    infinite = sum(not math.isfinite(v) for v in values)
    if infinite:
        return f"inf in {infinite} of {len(values)}"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {std:.{digits}f}"


def format_table(data: str, num_modes: int, measured: dict[str, list[dict[str, float]]]) -> str:
    """One table per data set: the published rows first, then ours."""
    header = (f"{'method':<28}{'source':<52}{'modes':>16}{'high-quality %':>18}"
              f"{'reverse KL':>18}{'s / run':>10}")
    lines = [f"{data}: {num_modes} modes, {NUM_SAMPLES:,} samples per run", header,
             "-" * len(header)]
    for method, source, modes, hq, kl in PUBLISHED[data]:
        kl_text = "-" if kl is None else f"{kl:.2f}"
        lines.append(f"{method:<28}{source:<52}{modes:>16.1f}{hq:>18.1f}{kl_text:>18}{'-':>10}")
    for name, runs in measured.items():
        source = f"measured here: {len(runs)} seed{'s' * (len(runs) > 1)}, mean ± std"
        seconds = statistics.median(r["seconds"] for r in runs)
        lines.append(f"{'ganbook ' + name:<28}{source:<52}"
                     f"{mean_std([r['modes'] for r in runs], 1):>16}"
                     f"{mean_std([r['high_quality'] for r in runs], 1):>18}"
                     f"{mean_std([r['reverse_kl'] for r in runs], 3):>18}{seconds:>10.1f}")
    return "\n".join(lines)


FIELDS = ("data", "method", "seed", "modes", "high_quality", "reverse_kl", "seconds", "load")
CHAPTER7 = ["plain", "minibatch-std", "pack", "unrolled", "recommended", "recommended-mbstd",
            "recommended-long"]


def machine_description(device: torch.device, threads: int) -> str:
    """One line naming the software, the hardware and the load that the timings come from."""
    return (f"torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()} "
            f"{platform.processor() or platform.system()}, {os.cpu_count()} CPU(s), device "
            f"{device}, {threads} torch thread(s), load average at start "
            f"{os.getloadavg()[0]:.1f}")


def read_results(path: str | os.PathLike) -> list[dict[str, float | str]]:
    """The rows of a results file written by `run(--out ...)` ('#' lines are comments)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    return [{k: (v if k in ("data", "method") else float(v)) for k, v in r.items()} for r in rows]


def _append(path: str, row: dict[str, float | str], header: str) -> None:
    """Append one run to the CSV at `path`, writing the comment and column lines first if new."""
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        if new:
            f.write(header)
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m ganbook bench` (also used by benchmarks/mode_coverage.py)."""
    parser.add_argument("--seeds", type=int, default=5, help="runs per (data set, recipe)")
    parser.add_argument("--data", nargs="+", choices=sorted(MIXTURES), default=["ring", "grid"])
    parser.add_argument("--recipes", nargs="+", choices=sorted(MIXTURE_RECIPES), default=CHAPTER7)
    parser.add_argument("--steps", type=int,
                        help="override every recipe's num_steps (a quick look, not the table)")
    parser.add_argument("--device", default="cpu", help="cpu (the timings quoted) or cuda")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads; 1 is fastest for these small networks")
    parser.add_argument("--out", help="append each run to this CSV as it finishes; runs already "
                        "in it are skipped, so an interrupted benchmark continues where it stopped")


def run(args: argparse.Namespace) -> str:
    """Run the benchmark that `args` describes, seed by seed (so an interrupted run has every
    method on its first seeds), print the tables at the end and return them."""
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    recipes = {name: MIXTURE_RECIPES[name] for name in args.recipes}
    if args.steps is not None:
        recipes = {name: dataclasses.replace(r, train=dataclasses.replace(
            r.train, num_steps=args.steps)) for name, r in recipes.items()}
    machine = machine_description(device, args.threads)
    out = [f"ganbook mode-coverage benchmark: {machine}"]
    out += [f"{name}: {recipe}" for name, recipe in recipes.items()]
    print("\n".join(out), flush=True)
    out_path = getattr(args, "out", None)
    rows = read_results(out_path) if out_path and os.path.exists(out_path) else []
    done = {(r["data"], r["method"], int(r["seed"])) for r in rows}
    header = f"# ganbook mode-coverage benchmark, {time.strftime('%Y-%m-%d')}: {machine}\n"
    total = time.perf_counter()
    for seed in range(args.seeds):
        for data in args.data:
            for name, recipe in recipes.items():
                if (data, name, seed) in done:
                    continue
                row = {"data": data, "method": name, "seed": seed,
                       **run_once(recipe, MIXTURES[data](), seed, device),
                       "load": round(os.getloadavg()[0], 2)}
                rows.append(row)
                print(f"{data} {name} seed {seed}: " + ", ".join(
                    f"{k} {row[k]:.3f}" for k in FIELDS[3:]), flush=True)
                if out_path:
                    _append(out_path, row, header)
    for data in args.data:
        measured = {name: [r for r in rows if r["data"] == data and r["method"] == name
                           and r["seed"] < args.seeds] for name in recipes}
        out.append("\n" + format_table(data, MIXTURES[data]().num_modes, measured))
        print(out[-1], flush=True)
    out.append(f"\ntotal wall time: {time.perf_counter() - total:.0f} s")
    print(out[-1])
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    """Entry point of benchmarks/mode_coverage.py."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    run(parser.parse_args(argv))
