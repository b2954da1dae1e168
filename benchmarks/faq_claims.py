"""The stability advice of circulating GAN articles, run: plain SGD instead of Adam, dropout in
the discriminator, Glorot initialisation (`ganbook.faq.CLAIMS`), each a change to the plain ring
GAN of chapter 3, over several seeds. Writes benchmarks/results/faq_claims.csv (one row per run,
with a description of the machine), which chapter 11 reads.

    OMP_NUM_THREADS=1 python benchmarks/faq_claims.py            # 2 seeds, 4,000 steps each
    OMP_NUM_THREADS=1 python benchmarks/faq_claims.py --seeds 1 --steps 500   # a smoke run
"""

import argparse
import csv
import os
import platform
from pathlib import Path

import torch

from ganbook.faq import CLAIMS, run_claim

OUT = Path(__file__).parent / "results" / "faq_claims.csv"


def machine() -> str:
    """One line describing where the numbers were measured."""
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fields = ["variant", "seed", "steps", "modes", "high_quality", "reverse_kl", "seconds",
              "machine"]
    with open(args.out, "w", newline="") as f:  # one row at a time: a cut-short run keeps its rows
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for seed in range(args.seeds):  # every variant for a seed before the next seed
            for variant in CLAIMS:
                row = {"variant": variant, "seed": seed, "steps": args.steps,
                       **run_claim(variant, seed, args.steps), "machine": machine()}
                writer.writerow(row)
                f.flush()
                print(row, flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
