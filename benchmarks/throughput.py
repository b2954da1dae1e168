"""Training throughput of `ganbook.train.fit` against a plain reference loop, on one DCGAN.

    python benchmarks/throughput.py                    # CPU: 32x32 and 64x64, writes the results
    python benchmarks/throughput.py --sizes 32 --repeats 3 --steps 4   # a quick look

The reference is the training step of the PyTorch DCGAN example (pytorch/examples,
`dcgan/main.py`), written here from its description: D on a real batch (label 1) and on one
fake batch (label 0), one D update, then G's update through D on *the same* fake batch, with
Adam(2e-4, betas (0.5, 0.999)) for both. Both sides use logits with
`binary_cross_entropy_with_logits` (the example ends D with a sigmoid and uses `BCELoss`; the
arithmetic is the same up to rounding).
`fit` differs in two ways that the book keeps on purpose: G's update draws fresh noise (Algorithm 1
of Goodfellow et al. 2014), which costs one more forward pass of G without gradients, and it
does not compute D's weight gradients during G's update, which saves about as much.

Both train the same networks (`ganbook.models.DCGANGenerator`/`DCGANDiscriminator`, ngf = ndf =
64, 3 channels, z of 100) on the same random images, one after the other, alternating which goes
first, `--repeats` times; each measurement skips a warm-up step. The table gives the median
images per second with the range over repeats, GFLOP/s from a FLOP count of one training step
(`torch.utils.flop_counter`, forward and backward), and the median of the per-repeat ratios
fit / reference. On the CPU both run on `--threads` threads, and one more row lets `fit` choose
its own count (`ganbook.threads`). Results go to benchmarks/results/throughput.json with the
machine described. On CUDA it adds rows for `fit` with mixed precision and with `torch.compile`.
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
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ganbook.data import infinite_batches
from ganbook.models import DCGANDiscriminator, DCGANGenerator, init_dcgan_weights, sample_latent
from ganbook.train import TrainConfig, fit

RESULTS = Path(__file__).resolve().parent / "results" / "throughput.json"
LATENT_DIM, CHANNELS, WIDTH = 100, 3, 64


def build(size: int, device: torch.device, seed: int = 0):
    """Fresh (G, D) of the benchmark, initialised as in DCGAN."""
    torch.manual_seed(seed)
    G = DCGANGenerator(LATENT_DIM, size, CHANNELS, WIDTH).to(device)
    D = DCGANDiscriminator(size, CHANNELS, WIDTH).to(device)
    G.apply(init_dcgan_weights)
    D.apply(init_dcgan_weights)
    return G, D


def reference_step(G, D, opt_g, opt_d, x_real: torch.Tensor) -> None:
    """One step of the reference loop: D on real and on a fake batch, then G on that batch."""
    n = x_real.shape[0]
    ones = torch.ones(n, device=x_real.device)
    zeros = torch.zeros(n, device=x_real.device)
    opt_d.zero_grad(set_to_none=True)
    loss_real = F.binary_cross_entropy_with_logits(D(x_real), ones)
    loss_real.backward()
    x_fake = G(sample_latent(n, LATENT_DIM, device=x_real.device))
    loss_fake = F.binary_cross_entropy_with_logits(D(x_fake.detach()), zeros)
    loss_fake.backward()
    opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    loss_g = F.binary_cross_entropy_with_logits(D(x_fake), ones)  # the same fake batch
    loss_g.backward()
    opt_g.step()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_reference(size: int, batch: int, steps: int, device: torch.device) -> float:
    """Seconds per step of the reference loop over `steps` steps after one warm-up step."""
    G, D = build(size, device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = torch.rand(batch, CHANNELS, size, size, device=device) * 2 - 1
    reference_step(G, D, opt_g, opt_d, x)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        reference_step(G, D, opt_g, opt_d, x)
    _sync(device)
    return (time.perf_counter() - start) / steps


def time_fit(size: int, batch: int, steps: int, device: torch.device, **options) -> float:
    """Seconds per step of `fit` over `steps` steps after one warm-up step (timed by callback)."""
    G, D = build(size, device)
    x = torch.rand(4 * batch, CHANNELS, size, size, device=device) * 2 - 1
    config = TrainConfig(num_steps=steps + 1, batch_size=batch, progress=False,
                         amp=options.get("amp", False), compile=options.get("compile", False),
                         num_threads=options.get("num_threads", torch.get_num_threads()))
    marks: list[float] = []

    def clock(step, *_):
        _sync(device)
        marks.append(time.perf_counter())

    fit(G, D, infinite_batches(x, batch, device=device), config, callbacks=[clock])
    return (marks[-1] - marks[0]) / steps


def step_flops(size: int, batch: int) -> int:
    """FLOPs of one reference training step (forward and backward) on the CPU."""
    G, D = build(size, torch.device("cpu"))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4)
    x = torch.zeros(batch, CHANNELS, size, size)
    with FlopCounterMode(display=False) as counter:
        reference_step(G, D, opt_g, opt_d, x)
    return counter.get_total_flops()


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    cpu = platform.processor()
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    if names:
        cpu = names[0]
    info = {"cpu": cpu, "cpus": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "python": platform.python_version(),
            "load_average_at_start": os.getloadavg()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def variants(device: torch.device) -> dict[str, dict]:
    """The `fit` settings measured on `device`: on the CPU at the reference's thread count and
    with fit's own choice (`ganbook.threads`); on CUDA with mixed precision and compile."""
    rows = {"fit": {}}
    if device.type == "cpu":
        rows["fit, automatic threads"] = {"num_threads": None}
    if device.type == "cuda":
        rows |= {"fit + AMP": {"amp": True}, "fit + AMP + compile": {"amp": True, "compile": True}}
    return rows


def measure(size: int, batch: int, steps: int, repeats: int, device: torch.device) -> list[dict]:
    """Interleaved repeats of the reference and each `fit` variant; one row each."""
    names = ["reference", *variants(device)]
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            if name == "reference":
                seconds[name].append(time_reference(size, batch, steps, device))
            else:
                seconds[name].append(time_fit(size, batch, steps, device,
                                              **variants(device)[name]))
            print(f"  {size}px {name}: {batch / seconds[name][-1]:.1f} images/s", flush=True)
    flops = step_flops(size, batch)
    rows = []
    for name in names:
        rates = [batch / s for s in seconds[name]]
        ratios = [ref / s for ref, s in zip(seconds["reference"], seconds[name], strict=True)]
        rows.append({"size": size, "batch": batch, "device": device.type, "loop": name,
                     "images_per_s": statistics.median(rates), "min": min(rates),
                     "max": max(rates), "gflop_per_s": flops / 1e9 * statistics.median(rates)
                     / batch, "gflop_per_image": flops / 1e9 / batch,
                     "ratio_to_reference": statistics.median(ratios)})
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| size | batch | device | loop | images/s (median, range) | GFLOP/s | "
             "GFLOP/image | × reference |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['size']} | {r['batch']} | {r['device']} | {r['loop']} | "
                     f"{r['images_per_s']:.1f} ({r['min']:.1f}–{r['max']:.1f}) | "
                     f"{r['gflop_per_s']:.1f} | {r['gflop_per_image']:.2f} | "
                     f"{r['ratio_to_reference']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Entry point: measure, print the table, write benchmarks/results/throughput.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 16],
                        help="batch size per image size (one value for all, or one each)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="CPU threads of the reference and of the `fit` row")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    batches = args.batch * len(args.sizes) if len(args.batch) == 1 else args.batch
    if len(batches) != len(args.sizes):
        parser.error("--batch takes one value, or one per --sizes value")
    device = torch.device(args.device)
    info = machine()
    print(json.dumps(info), flush=True)
    rows = []
    for size, batch in zip(args.sizes, batches, strict=True):
        rows += measure(size, batch, args.steps, args.repeats, device)
    table = format_table(rows)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = {"machine": info, "settings": dataclasses.asdict(TrainConfig()) | vars(args),
               "rows": rows}
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
