r"""Your own pictures as training data: every image file below a folder, resized for the DCGAN.

Files are found recursively (hidden files and folders skipped; the extensions of
`torchvision.datasets.ImageFolder`: JPEG, PNG, BMP, WebP, TIFF, PPM, PGM), decoded by PIL as
ImageFolder does (torchvision 0.29 deprecates its own `torchvision.io` decoders), resized so the
shorter side is `image_size` and centre-cropped to a square, as in the PyTorch DCGAN tutorial,
and scaled to [-1, 1]. Labels follow `torchvision.datasets.ImageFolder`: the first sub-folder
names the class (files directly in the folder are class ".").

`folder_batches` keeps the images in memory as one tensor (`ganbook.data.InfiniteBatches`) when
they fit in `memory_limit` bytes as float32, and otherwise streams them from disk through a
`DataLoader` with worker processes (pinned memory on CUDA). Files that cannot be decoded are
skipped and reported in one warning with their count and first names.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ganbook.data import InfiniteBatches
from ganbook.models import SUPPORTED_IMAGE_SIZES

MEMORY_LIMIT = 2 * 2**30  # bytes of float32 pixels kept in memory; above it, stream from disk
SHOWN_NAMES = 3  # how many unreadable files a warning names


class ImageFiles(NamedTuple):
    """The image files below a folder and their ImageFolder-style class labels."""

    paths: list[Path]
    labels: list[int]
    classes: list[str]  # class i is the sub-folder classes[i] ("." for files in the folder)


def find_images(root: str | os.PathLike) -> ImageFiles:
    """Every file below `root` whose extension torchvision's ImageFolder accepts, sorted."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    root = Path(root).expanduser()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise FileNotFoundError(f"image folder {root} {what}; pass the folder that holds your "
                                "pictures (sub-folders are searched too)")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMG_EXTENSIONS
                   and p.is_file() and not any(part.startswith(".")
                                               for part in p.relative_to(root).parts))
    if not paths:
        raise FileNotFoundError(f"no image files in {root} or its sub-folders (looked for "
                                f"{', '.join(IMG_EXTENSIONS)})")
    groups = [p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else "."
              for p in paths]
    classes = sorted(set(groups))
    return ImageFiles(paths, [classes.index(g) for g in groups], classes)


def _check_size(image_size: int, channels: int) -> None:
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ValueError(f"image_size {image_size!r} is not one the DCGAN supports; choose one of "
                         f"{list(SUPPORTED_IMAGE_SIZES)}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (colour), got {channels!r}")


def read_image(path: str | os.PathLike, image_size: int, channels: int) -> Tensor:
    r"""One image file as float32 (channels, image_size, image_size) in [-1, 1].

    Decoded by PIL as `torchvision.datasets.ImageFolder` does (RGB, alpha dropped; grey by PIL's
    ITU-R 601-2 luma when `channels` is 1), a large JPEG at a reduced scale (``draft``), then
    the shorter side is resized to `image_size` (bilinear, antialiased), the centre square is
    cropped, and pixels map as :math:`x = p / 127.5 - 1`. Raises what PIL raises (usually an
    OSError) when the file cannot be decoded.
    """
    from PIL import Image
    from torchvision.transforms.v2 import functional as F

    with Image.open(path) as image:
        mode = "RGB" if channels == 3 else "L"
        image.draft(mode, (image_size, image_size))  # JPEG: decode at 1/2 .. 1/8 scale if larger
        pixels = F.pil_to_tensor(image.convert(mode))  # uint8 (channels, H, W)
    pixels = F.center_crop(F.resize(pixels, [image_size], antialias=True), [image_size] * 2)
    return pixels.float() / 127.5 - 1


def _unreadable(skipped: Sequence[tuple[Path, str]], total: int) -> str:
    shown = "; ".join(f"{path.name} ({reason})" for path, reason in skipped[:SHOWN_NAMES])
    more = f" and {len(skipped) - SHOWN_NAMES} more" if len(skipped) > SHOWN_NAMES else ""
    return (f"skipped {len(skipped)} of {total} image files that could not be read: "
            f"{shown}{more}")


def _reason(exc: Exception, path: Path) -> str:
    """A short reason for the warning: the exception's message without the file's name."""
    text = " ".join(str(exc).replace(str(path), "").split())
    if "cannot identify image file" in text:
        return "not an image file PIL can read"
    return text[:80] or type(exc).__name__


def load_image_folder(root: str | os.PathLike, image_size: int = 64,
                      channels: int = 3) -> tuple[Tensor, Tensor]:
    """Every readable image below `root` in memory: images (N, channels, image_size,
    image_size) float32 in [-1, 1] and labels (N,) int64 (see `find_images`). Unreadable files
    are skipped with one warning that counts them and names the first few."""
    _check_size(image_size, channels)
    files = find_images(root)
    images, labels, skipped = [], [], []
    for path, label in zip(files.paths, files.labels, strict=True):
        try:
            images.append(read_image(path, image_size, channels))
            labels.append(label)
        except Exception as exc:  # PIL raises OSError, ValueError, DecompressionBombError...
            skipped.append((path, _reason(exc, path)))
    if skipped:
        warnings.warn(_unreadable(skipped, len(files.paths)), stacklevel=2)
    if not images:
        raise ValueError(f"none of the {len(files.paths)} image files in {root} could be read")
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


class ImageFolderDataset(Dataset):
    """The images below a folder, decoded one at a time (for a DataLoader's worker processes).

    Item i is (image float32 (channels, image_size, image_size) in [-1, 1], label). At
    construction every file's header is checked with PIL (fast: no pixels are decoded) and
    files that fail are skipped with a warning; a file that passes that check but fails to
    decode later is replaced by the next file, with a warning from the worker that met it.
    """

    def __init__(self, root: str | os.PathLike, image_size: int = 64, channels: int = 3) -> None:
        from PIL import Image

        _check_size(image_size, channels)
        files = find_images(root)
        self.image_size, self.channels = image_size, channels
        self.paths, self.labels, skipped = [], [], []
        for path, label in zip(files.paths, files.labels, strict=True):
            try:
                with Image.open(path) as image:
                    image.verify()  # header and structure, no pixel decoding
            except Exception as exc:  # PIL raises many types for a broken file
                skipped.append((path, _reason(exc, path)))
                continue
            self.paths.append(path)
            self.labels.append(label)
        if skipped:
            warnings.warn(_unreadable(skipped, len(files.paths)), stacklevel=2)
        if not self.paths:
            raise ValueError(f"none of the {len(files.paths)} image files in {root} is readable")
        self.classes = files.classes

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        for offset in range(len(self.paths)):
            i = (index + offset) % len(self.paths)
            try:
                return read_image(self.paths[i], self.image_size, self.channels), self.labels[i]
            except Exception as exc:  # as in load_image_folder
                reason = _reason(exc, self.paths[i])
                warnings.warn(f"could not decode {self.paths[i]} ({reason}); "
                              "using the next file instead", stacklevel=2)
        raise ValueError("no file of the folder could be decoded")


def _size(num_bytes: int) -> str:
    return (f"{num_bytes / 2**30:.1f} GiB" if num_bytes >= 2**30
            else f"{num_bytes / 2**20:.1f} MiB")


def pixel_bytes(num_images: int, image_size: int, channels: int) -> int:
    """Bytes of `num_images` float32 images of shape (channels, image_size, image_size)."""
    return num_images * channels * image_size * image_size * 4


def folder_batches(root: str | os.PathLike, batch_size: int, image_size: int = 64,
                   channels: int = 3, *, seed: int = 0, device: str | torch.device = "cpu",
                   memory_limit: int = MEMORY_LIMIT, num_workers: int | None = None,
                   world: int = 1, rank: int = 0) -> tuple[InfiniteBatches | DataLoader, str]:
    """Batches of the images below `root` for `fit`, and a one-line description of how.

    In memory (`InfiniteBatches` of global batches, on `device`) when the images take at most
    `memory_limit` bytes as float32; otherwise a DataLoader that decodes them in `num_workers`
    processes (None: up to 4, no more than the CPUs) with a seeded `DistributedSampler`, which
    shuffles every epoch and lets `fit` resume exactly. Streamed batches are this process's
    share, ``batch_size // world`` images, for process `rank` of `world` under torchrun; batches
    in memory are the global batch (wrap them in `ganbook.distributed.RankSlice`).
    """
    _check_size(image_size, channels)
    num_files = len(find_images(root).paths)
    need = pixel_bytes(num_files, image_size, channels)
    size = f"{image_size}x{image_size} {'RGB' if channels == 3 else 'grey'}"
    if need <= memory_limit:
        images, _ = load_image_folder(root, image_size, channels)
        batches = InfiniteBatches(images, batch_size, seed=seed, device=device)
        return batches, (f"{len(images):,} images of {root} at {size}, "
                         f"{_size(need)} in memory")
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} must be a multiple of the {world} processes")
    dataset = ImageFolderDataset(root, image_size, channels)
    if len(dataset) < batch_size:
        raise ValueError(f"{root} has {len(dataset)} readable images, fewer than one batch of "
                         f"{batch_size}; use a smaller batch size or more images")
    workers = min(4, os.cpu_count() or 1) if num_workers is None else num_workers
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True,
                                 seed=seed, drop_last=True)
    loader = DataLoader(dataset, batch_size=batch_size // world, sampler=sampler, drop_last=True,
                        num_workers=workers, persistent_workers=workers > 0,
                        pin_memory=torch.device(device).type == "cuda")
    return loader, (f"{len(dataset):,} images of {root} at {size}, streamed from disk by "
                    f"{workers} worker(s), as {_size(need)} would exceed the memory limit of "
                    f"{_size(memory_limit)}")
