"""Shared test settings: no progress bars, the CPU, one thread (deterministic and quiet)."""

import os

import matplotlib
import pytest
import torch

os.environ.setdefault("GANBOOK_PROGRESS", "0")
os.environ.setdefault("GANBOOK_DEVICE", "cpu")
matplotlib.use("Agg")
torch.set_num_threads(1)  # fast and repeatable on a loaded 2-core machine


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def cpu() -> torch.device:
    return torch.device("cpu")


def write_image_folder(root, count: int = 12, size: tuple[int, int] = (24, 40)):
    """A small folder of real image files in two class sub-folders: PNG, JPEG, BMP and WebP, a
    grey and an RGBA PNG, plus what a folder of photos also holds: a corrupt .jpg, a hidden file
    and a text file. Returns the number of readable images."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / ("cats" if i % 2 else "dogs")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.{['png', 'jpg', 'bmp', 'webp'][i % 4]}")
    grey = rng.integers(0, 256, size, dtype=np.uint8)
    Image.fromarray(grey, "L").save(root / "cats" / "grey.png")
    Image.fromarray(rng.integers(0, 256, (*size, 4), dtype=np.uint8), "RGBA").save(
        root / "dogs" / "alpha.png")
    (root / "dogs" / "corrupt.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    (root / "cats" / ".hidden.png").write_bytes(b"macOS metadata")
    (root / "notes.txt").write_text("not an image")
    return count + 2


@pytest.fixture
def image_folder(tmp_path):
    """(folder, number of readable images) of `write_image_folder`."""
    root = tmp_path / "pictures"
    return root, write_image_folder(root)
