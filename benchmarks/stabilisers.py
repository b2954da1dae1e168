"""The stabilisers study of the chapter "Stabilising GANs": every method of
`ganbook.stabilisers.METHODS` on the grid mixture and on the digits, several seeds, the same budget.

    OMP_NUM_THREADS=1 python benchmarks/stabilisers.py              # the committed table, 5 seeds
    OMP_NUM_THREADS=1 python benchmarks/stabilisers.py --seeds 1    # a quick look

One row per (seed, task, method) is appended to benchmarks/results/stabilisers.csv as soon as
the run ends (seed-major order, so an interrupted study still has whole seeds; rerunning skips the
rows already there). benchmarks/results/stabilisers.json describes the machine and the settings.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import torch

from ganbook.judge import train_digits_judge
from ganbook.stabilisers import (
    DIGITS_BASE,
    GRID_BASE,
    METHODS,
    TASKS,
    run_digits,
    run_grid,
)

RESULTS = Path(__file__).parent / "results"
FIELDS = ["task", "method", "seed", "modes", "high_quality", "reverse_kl", "fid", "classes",
          "class_kl", "seconds", "load_before"]


def machine() -> dict[str, object]:
    """What the timings were measured on."""
    return {"platform": platform.platform(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "load_average_at_start": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=list(METHODS))
    parser.add_argument("--out", type=Path, default=RESULTS / "stabilisers.csv")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if args.out.is_file():
        with args.out.open() as f:
            done = {(r["task"], r["method"], int(r["seed"])) for r in csv.DictReader(f)}
    else:
        with args.out.open("w", newline="") as f:
            csv.DictWriter(f, FIELDS).writeheader()
    meta = {"machine": machine(), "grid_base": repr(GRID_BASE), "digits_base": repr(DIGITS_BASE),
            "methods": {k: dataclasses.asdict(m) for k, m in METHODS.items()}}
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    judge = train_digits_judge()
    for seed in range(args.seeds):
        for task in args.tasks:
            for name in args.methods:
                if (task, name, seed) in done:
                    continue
                load = os.getloadavg()[0]
                start = time.perf_counter()
                try:
                    if task == "grid":
                        row = run_grid(METHODS[name], seed)
                    else:
                        row = run_digits(METHODS[name], seed, judge)
                except FloatingPointError:  # a diverged run is a result, not a crash
                    row = {"seconds": time.perf_counter() - start}
                row.update(task=task, method=name, seed=seed, load_before=round(load, 2))
                with args.out.open("a", newline="") as f:
                    csv.DictWriter(f, FIELDS).writerow(row)
                print(row, flush=True)


if __name__ == "__main__":
    main()
