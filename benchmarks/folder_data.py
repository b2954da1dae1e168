"""Does a folder of images keep the DCGAN busy? Data time against step time on the CPU.

    python benchmarks/folder_data.py              # writes benchmarks/results/folder_data.json
    python benchmarks/folder_data.py --images 500 --steps 8

It writes `--images` 64x64 JPEG files (smooth random colour fields, quality 90) to a temporary
folder, then trains the 64x64 DCGAN of `ganbook.recipes.ImageRecipe` (batch 64) with `fit` for
`--steps` steps after 3 warm-up steps, feeding it from that folder in four ways: held in memory
(`folder_batches`'s choice for a folder this size) and streamed by a DataLoader with 0, 1 and 2
worker processes. For each it reports the median seconds per step, the median seconds `fit`
waited for the next batch, and their ratio, the target being at most 10 %. It also times
`load_image_folder`, the one-off decoding of the whole folder. Run it with another CPU-bound
process on the machine, as CI and Colab have.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganbook.folder import folder_batches, load_image_folder, read_image
from ganbook.loaders import batch_stream
from ganbook.recipes import ImageRecipe
from ganbook.train import fit

RESULTS = Path(__file__).resolve().parent / "results" / "folder_data.json"
WARMUP = 3  # steps left out of the medians (worker start-up, first allocations)


def write_jpegs(folder: Path, count: int, size: int = 64, seed: int = 0) -> None:
    """`count` JPEGs of smooth random colour: 8x8 noise upscaled to `size`, like photos in
    that their pixels vary smoothly (JPEG decodes such images at its usual speed)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        coarse = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        coarse.resize((size, size), Image.BICUBIC).save(folder / f"{i:05d}.jpg", quality=90)


class TimedBatches(Iterator):
    """Wraps fit's batch stream and records how long each `next` took: the data time."""

    def __init__(self, stream: Iterator) -> None:
        self.stream, self.waits = stream, []

    def __next__(self):
        start = time.perf_counter()
        batch = next(self.stream)
        self.waits.append(time.perf_counter() - start)
        return batch


def measure(batches, steps: int) -> dict[str, float]:
    """Median step and data seconds of `steps` DCGAN steps after the warm-up."""
    recipe = ImageRecipe(image_size=64, channels=3)
    G, D = recipe.build(0)
    config = dataclasses.replace(recipe.train, num_steps=WARMUP + steps, batch_size=64,
                                 progress=False)
    timed = TimedBatches(batch_stream(batches, torch.device("cpu")))
    history = fit(G, D, timed, config)
    step_seconds = np.diff([0.0, *history.time])[WARMUP:]
    data_seconds = timed.waits[WARMUP:]
    step, data = statistics.median(step_seconds), statistics.median(data_seconds)
    return {"step_s": step, "data_s": data, "data_fraction": data / step,
            "data_s_max": max(data_seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=20, help="measured steps per way")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_jpegs(folder, args.images)
        read_image(next(folder.iterdir()), 64, 3)  # imports and first-call set-up, not timed
        start = time.perf_counter()
        images, _ = load_image_folder(folder, 64, 3)
        decode_s = time.perf_counter() - start
        print(f"decoded {len(images)} JPEGs in {decode_s:.2f} s "
              f"({1e3 * decode_s / len(images):.2f} ms each)")
        ways = [("in memory", {})] + [(f"streamed, {w} worker(s)",
                                       {"memory_limit": 0, "num_workers": w}) for w in (0, 1, 2)]
        for name, options in ways:
            batches, description = folder_batches(folder, 64, 64, 3, **options)
            row = {"way": name, **measure(batches, args.steps)}
            rows.append(row)
            print(f"{name:>22}: step {row['step_s']:.3f} s, data {1e3 * row['data_s']:.1f} ms "
                  f"({100 * row['data_fraction']:.1f} %), slowest data wait "
                  f"{1e3 * row['data_s_max']:.0f} ms  [{description.split(', ', 1)[1]}]")
    result = {"machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPU(s), "
                         f"torch {torch.__version__}, {torch.get_num_threads()} torch thread(s)",
              "load_average_start": load, "load_average_end": os.getloadavg()[0],
              "images": args.images, "steps": args.steps, "batch": 64, "decode_all_s": decode_s,
              "rows": rows}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
