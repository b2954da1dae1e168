"""Headline numbers of chapters 5 and 6 over seeds: `python benchmarks/chapter_seeds.py`.

The chapters train one run each (seed 0) so that CI stays fast; this script re-runs the same
code path for seeds 0, 1, 2 and writes one row per run to `benchmarks/results/chapter_seeds.csv`
(with a comment header that describes the machine). The chapters read that file to give the
spread over seeds beside the number of their own run.

* chapter 5 (`book/05_dcgan.ipynb`), `setting = chapter`: the digits DCGAN at the chapter's
  settings (latent 32, ngf 128, ndf 256, 3,000 steps of 64, Adam 5e-4, betas (0.5, 0.99)), its
  weight average (beta 0.998) with BatchNorm statistics recomputed, scored by the mean
  `judge_fid` of five sets of 359 samples, divided by `digits_fid_floor`; also the number of
  digits the judge finds and the KL of the class histogram to uniform.
  With `--exercise-5`, also `setting = paper`: the paper's rate and betas with the PyTorch
  example's widths (ngf = ndf = 64, 2e-4, (0.5, 0.999)), and `setting = pytorch-init`: the
  chapter's settings after PyTorch's default initialisation (exercise 5 of the chapter).
* chapter 6 (`book/06_conditional_gan.ipynb`), `setting = conditional`: the conditional DCGAN
  (latent 16, ngf = ndf = 64, 1,000 steps of 128, 2e-4, EMA 0.995); the share of 100 samples
  per label that the judge reads as the requested digit, the worst class, and the KL to uniform
  of 1,000 samples with uniform labels; `setting = unconditional` the same model without labels
  (KL only); `setting = shuffled-labels` the conditional model trained on shuffled labels
  (exercise 5).

Seed 0 reproduces the chapters' runs exactly (same seeds, same order of random draws).
One thread, CPU. The file records each run's training seconds (`train_seconds`): on the shared
2-core machine that made the committed file (load average about 14), a chapter-5 run took about
11 minutes and a chapter-6 run 2 to 3 minutes; on an idle core they take well under a minute.
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ganbook.data import infinite_batches, load_images
from ganbook.judge import train_digits_judge
from ganbook.metrics import class_histogram, class_kl_to_uniform, digits_fid_floor, judge_fid
from ganbook.models import DCGANDiscriminator, DCGANGenerator, sample_latent
from ganbook.train import TrainConfig, fit
from ganbook.utils import seed_everything

OUT = Path(__file__).parent / "results" / "chapter_seeds.csv"
FIELDS = ["chapter", "setting", "seed", "fid", "fid_floor", "fid_ratio", "digits", "kl_uniform",
          "agreement", "worst_class", "worst_class_agreement", "train_seconds"]
DEVICE = torch.device("cpu")


# ---------------------------------------------------------------- chapter 5 (DCGAN)
def _reset_to_pytorch_default(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)):
        module.reset_parameters()


@torch.no_grad()
def _recalibrate_batchnorm(G: nn.Module, num_batches: int = 20, batch_size: int = 256) -> None:
    codes = torch.Generator().manual_seed(0)
    for m in G.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    G.train()
    for _ in range(num_batches):
        G(sample_latent(batch_size, G.latent_dim, generator=codes))
    G.eval()


def run_dcgan(judge, floor, x_train, n_test, seed, setting):
    """One training run of chapter 5's digits DCGAN; returns a result row."""
    if setting == "paper":
        ngf, ndf, lr, betas = 64, 64, 2e-4, (0.5, 0.999)
    else:
        ngf, ndf, lr, betas = 128, 256, 5e-4, (0.5, 0.99)
    latent_dim, ema_decay = 32, 0.998
    seed_everything(seed)
    G = DCGANGenerator(latent_dim, image_size=8, channels=1, ngf=ngf)
    D = DCGANDiscriminator(image_size=8, channels=1, ndf=ndf)
    if setting == "pytorch-init":
        G.apply(_reset_to_pytorch_default)
        D.apply(_reset_to_pytorch_default)
    config = TrainConfig(num_steps=3000, batch_size=64, lr_g=lr, lr_d=lr, betas=betas, seed=seed,
                         progress=False)
    G_avg = copy.deepcopy(G)

    @torch.no_grad()
    def average(step, G, D, history):
        for p_avg, p in zip(G_avg.parameters(), G.parameters(), strict=True):
            p_avg.lerp_(p, 1 - ema_decay)

    start = time.perf_counter()
    fit(G, D, infinite_batches(x_train, config.batch_size, seed=seed), config, callbacks=[average])
    seconds = time.perf_counter() - start
    _recalibrate_batchnorm(G_avg)
    z_eval = sample_latent(5 * n_test, latent_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        x = G_avg.eval()(z_eval)
    fid = float(np.mean([judge_fid(judge, x_train, c) for c in x.split(n_test)]))
    hist = class_histogram(judge, x)
    return {"chapter": 5, "setting": setting, "seed": seed, "fid": fid, "fid_floor": floor,
            "fid_ratio": fid / floor, "digits": int((hist > 0).sum()),
            "kl_uniform": class_kl_to_uniform(hist), "train_seconds": seconds}


# ---------------------------------------------------------------- chapter 6 (conditional)
def run_conditional(judge, x_real, y_real, seed, setting):
    """One training run of chapter 6's (un)conditional DCGAN; returns a result row."""
    K, latent_dim, ema_decay = 10, 16, 0.995
    conditional = setting != "unconditional"
    if setting == "shuffled-labels":
        y_real = y_real[torch.randperm(len(y_real), generator=torch.Generator().manual_seed(seed))]
    seed_everything(seed)
    G = DCGANGenerator(latent_dim=latent_dim, image_size=8, ngf=64,
                       num_classes=K if conditional else None)
    D = DCGANDiscriminator(image_size=8, ndf=64, num_classes=K if conditional else None)
    G_ema = AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
    data = (x_real, y_real) if conditional else x_real
    config = TrainConfig(num_steps=1000, batch_size=128, lr_g=2e-4, lr_d=2e-4, seed=seed,
                         progress=False)
    start = time.perf_counter()
    fit(G, D, infinite_batches(data, 128, seed=seed), config,
        callbacks=[lambda step, G, D, history: G_ema.update_parameters(G)])
    seconds = time.perf_counter() - start
    G_avg = G_ema.module.eval()
    row = {"chapter": 6, "setting": setting, "seed": seed, "train_seconds": seconds}
    noise = torch.Generator().manual_seed(3)
    y_uniform = torch.randint(K, (1000,), generator=noise)
    z_cond = sample_latent(1000, latent_dim, generator=noise)
    z_uncond = sample_latent(1000, latent_dim, generator=noise)
    with torch.no_grad():
        if conditional:
            labels = torch.arange(K).repeat_interleave(100)
            z = sample_latent(len(labels), latent_dim, generator=torch.Generator().manual_seed(1))
            per_class = (judge.predict(G_avg(z, labels)) == labels).float().view(K, 100).mean(1)
            row.update(agreement=per_class.mean().item(), worst_class=int(per_class.argmin()),
                       worst_class_agreement=per_class.min().item())
            hist = class_histogram(judge, G_avg(z_cond, y_uniform))
        else:
            hist = class_histogram(judge, G_avg(z_uncond))
    row.update(digits=int((hist > 0).sum()), kl_uniform=class_kl_to_uniform(hist))
    return row


def machine() -> str:
    """One line: CPU model, cores, load, Python and torch versions, date."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{model}, {os.cpu_count()} CPUs, load average {load:.1f} at the start, "
            f"Python {platform.python_version()}, torch {torch.__version__}, 1 thread, CPU, "
            f"{datetime.date.today().isoformat()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (default 3)")
    parser.add_argument("--exercise-5", action="store_true",
                        help="also chapter 5's exercise 5: paper and pytorch-init, seeds 0-2")
    parser.add_argument("--chapters", default="5,6",
                        help="which chapters' runs, e.g. 6 (two processes can share the work: "
                             "give each its own --out and concatenate the files)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = range(args.seeds)
    x_train, _ = load_images("digits", split="train")
    x_test, _ = load_images("digits", split="test")
    x_real, y_real = load_images("digits")
    judge = train_digits_judge(device=DEVICE)
    floor = digits_fid_floor(judge)
    ch5 = [(run_dcgan, (judge, floor, x_train, len(x_test), s, "chapter")) for s in seeds]
    ch6 = [(run_conditional, (judge, x_real, y_real, s, setting))
           for s in seeds for setting in ("conditional", "unconditional")]
    variants = [(run_dcgan, (judge, floor, x_train, len(x_test), s, setting))
                for setting in ("paper", "pytorch-init") for s in range(3)]
    # The headline runs first, then the exercises' runs (the file is written row by row).
    jobs = ((ch5 if "5" in args.chapters else [])
            + (ch6 + [(run_conditional, (judge, x_real, y_real, 0, "shuffled-labels"))]
               if "6" in args.chapters else []))
    if args.exercise_5:
        jobs += variants
    args.out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with args.out.open("w", newline="") as f:
        f.write(f"# {machine()}\n")
        writer = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for run, run_args in jobs:
            row = run(*run_args)
            row = {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()}
            writer.writerow(row)
            f.flush()
            print(row, flush=True)
        f.write(f"# total {time.perf_counter() - start:.0f} s\n")


if __name__ == "__main__":
    main()
