"""Seconds per `fit` step on 1 thread and on 2 threads, for the book's networks and larger ones:
the measurements behind `ganbook.threads.SMALL_STEP_FLOPS`.

    python benchmarks/threads.py                 # writes benchmarks/results/threads.json
    python benchmarks/threads.py --cases mixture digits8 --repeats 3

For each case it trains fresh networks for a few steps on 1 and on 2 threads, alternating which
goes first, `--repeats` times, and reports the median seconds per step, the ratio 2 threads /
1 thread (below 1: two threads are faster) and the FLOPs of one forward pass of D(G(z)) over a
batch (`ganbook.threads.forward_flops`), the quantity `fit` decides by. Run it with another
CPU-bound process on the machine, as CI and Colab have: that is where extra threads hurt.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from ganbook.data import MixtureBatches, grid_mixture, infinite_batches
from ganbook.models import DCGANDiscriminator, DCGANGenerator
from ganbook.recipes import MIXTURE_RECIPES, DigitsRecipe
from ganbook.threads import forward_flops
from ganbook.train import TrainConfig, fit

RESULTS = Path(__file__).resolve().parent / "results" / "threads.json"


def mixture_case(steps: int):
    """The recommended 2-D mixture recipe on the grid (batch 256)."""
    recipe = MIXTURE_RECIPES["recommended"]
    G, D = recipe.build(0)
    config = dataclasses.replace(recipe.train, num_steps=steps, progress=False,
                                 lr_decay_fraction=0.0, ema_decay=0.0)
    return G, D, MixtureBatches(grid_mixture(), config.batch_size), config


def dcgan_case(size: int, steps: int, batch: int):
    """A DCGAN: the 8x8 digits recipe, or 3-channel 32x32 / 64x64 with ngf = ndf = 64."""
    if size == 8:
        G, D = DigitsRecipe().build(0)
    else:
        torch.manual_seed(0)
        G, D = DCGANGenerator(100, size, 3, 64), DCGANDiscriminator(size, 3, 64)
    channels = 1 if size == 8 else 3
    x = torch.rand(4 * batch, channels, size, size) * 2 - 1
    return G, D, infinite_batches(x, batch), TrainConfig(num_steps=steps, batch_size=batch,
                                                          progress=False)


CASES = {
    "mixture": lambda: mixture_case(150),
    "digits8": lambda: dcgan_case(8, 60, 64),
    "dcgan32": lambda: dcgan_case(32, 4, 64),
    "dcgan64": lambda: dcgan_case(64, 2, 16),
}


def seconds_per_step(make, threads: int) -> float:
    G, D, batches, config = make()
    config = dataclasses.replace(config, num_threads=threads)
    start = time.perf_counter()
    fit(G, D, batches, config)
    return (time.perf_counter() - start) / config.num_steps


def main(argv: list[str] | None = None) -> None:
    """Measure, print a table, write benchmarks/results/threads.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    machine = {"cpus": os.cpu_count(), "torch": torch.__version__,
               "python": platform.python_version(), "load_average_at_start": os.getloadavg()}
    rows = []
    print("| case | forward MFLOP per batch | 1 thread, ms/step | 2 threads, ms/step | 2 / 1 |")
    print("|---|---|---|---|---|")
    for name in args.cases:
        seconds: dict[int, list[float]] = {1: [], 2: []}
        for r in range(args.repeats):
            for threads in (1, 2) if r % 2 == 0 else (2, 1):
                seconds[threads].append(seconds_per_step(CASES[name], threads))
        G, D, _, config = CASES[name]()
        row = {"case": name, "forward_mflop": forward_flops(G, D, config.batch_size) / 1e6,
               "ms_1_thread": 1e3 * statistics.median(seconds[1]),
               "ms_2_threads": 1e3 * statistics.median(seconds[2])}
        row["ratio"] = row["ms_2_threads"] / row["ms_1_thread"]
        rows.append(row)
        print(f"| {name} | {row['forward_mflop']:.1f} | {row['ms_1_thread']:.1f} | "
              f"{row['ms_2_threads']:.1f} | {row['ratio']:.2f} |", flush=True)
    machine["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
