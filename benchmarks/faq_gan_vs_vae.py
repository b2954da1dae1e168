"""GAN or VAE? Chapter 5's 8x8-digits DCGAN against a VAE whose decoder is the same network,
trained for the same number of steps on the same batches (`ganbook.faq.gan_vs_vae`), scored in
the digits judge's features (FID, k-NN precision and recall) and by sharpness, over several
seeds. Writes benchmarks/results/faq_gan_vs_vae.csv (one row per model and seed, with a
description of the machine), which chapter 11 reads.

    OMP_NUM_THREADS=1 python benchmarks/faq_gan_vs_vae.py          # 2 seeds, 3,000 steps each
"""

import argparse
import csv
from pathlib import Path

import torch

from ganbook.faq import gan_vs_vae
from ganbook.judge import train_digits_judge

OUT = Path(__file__).parent / "results" / "faq_gan_vs_vae.csv"


def main() -> None:
    from faq_claims import machine  # the same machine line as the other FAQ benchmark

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    judge = train_digits_judge()
    rows = []
    for seed in range(args.seeds):
        for model, scores in gan_vs_vae(judge, seed, args.steps).items():
            rows.append({"model": model, "seed": seed, "steps": args.steps,
                         "seconds": scores.pop("seconds", 0.0), **scores, "machine": machine()})
            print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
