"""Reading the image datasets that `ganbook.data.load_images` takes from disk: MNIST and
Fashion-MNIST (through torchvision) and CIFAR-10's pickled batches (through a restricted
unpickler). Files that are missing raise FileNotFoundError; files that are damaged or hostile
raise ValueError naming the folder to delete. Pixels come back as uint8 (N, C, H, W).
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

CIFAR_FOLDER = "cifar-10-batches-py"  # the layout of the official python archive
CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def _missing(name: str, folder: Path) -> FileNotFoundError:
    return FileNotFoundError(f"dataset {name!r} was not found in {folder}; pass download=True to "
                             "load_images to download it (needs a network connection)")


def load_mnist(name: str, root: Path, download: bool, split: str) -> tuple[Tensor, Tensor]:
    """Images (N, 1, 28, 28) uint8 and labels (N,) of "mnist" or "fashion-mnist" from torchvision's
    layout under `root`; damaged raw files raise ValueError instead of torchvision's errors."""
    from torchvision import datasets  # imported on use: torchvision is slow to import

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    raw = root / cls.__name__ / "raw"
    try:
        ds = cls(str(root), train=split == "train", download=download)
    except RuntimeError as err:
        if "not found" in str(err).lower() and not download:  # torchvision's "Dataset not found"
            raise _missing(name, raw) from err
        if download:
            raise
        corrupt = err
    except (ValueError, TypeError, IndexError, AssertionError, EOFError) as err:
        corrupt = err  # e.g. "invalid literal for int()" from a truncated header
    else:
        data, targets = ds.data, ds.targets.long()
        labels_ok = targets.shape == (len(data),) and bool(((targets >= 0) & (targets < 10)).all())
        if data.dim() == 3 and tuple(data.shape[1:]) == (28, 28) and labels_ok:
            return data.unsqueeze(1), targets  # (N, 1, 28, 28) uint8
        corrupt = ValueError(f"images {tuple(data.shape)} {data.dtype}, labels "
                             f"{tuple(targets.shape)}")
    raise ValueError(f"the {name} files in {raw} are damaged ({' '.join(str(corrupt).split())}); "
                     "delete them and download the dataset again") from None


def load_cifar10(name: str, root: Path, download: bool, split: str) -> tuple[Tensor, Tensor]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) of CIFAR-10's `split` from the python
    archive's batch files under `root`, each read by `_CifarUnpickler` (no code runs)."""
    # torchvision's CIFAR10 checks the MD5 of all six batch files on every load, so it refuses
    # any other files; we read the same pickled batches here and use torchvision to download.
    folder = root / CIFAR_FOLDER
    files = [folder / f for f in CIFAR_FILES[split]]
    if download and not all(f.is_file() for f in files):
        from torchvision.datasets import CIFAR10, utils

        utils.download_and_extract_archive(CIFAR10.url, str(root), filename=CIFAR10.filename,
                                           md5=CIFAR10.tgz_md5)
    if not all(f.is_file() for f in files):
        raise _missing(name, folder)
    batches = [_read_cifar_batch(f) for f in files]
    return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR-10's batch files hold: dicts, lists, strings, numbers and uint8
    NumPy arrays. Any other global (``os.system``, ``builtins.eval``, ...) is refused before it
    is looked up, so a crafted file cannot run code (plain `pickle.load` would run it)."""

    _NUMPY_CORE = getattr(np, "_core", None) or np.core  # numpy >= 2 renamed numpy.core
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _NUMPY_CORE.multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _NUMPY_CORE.multiarray._reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # bytes in protocol-2 pickles
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused {module}.{name}") from None


def _read_cifar_batch(path: Path) -> tuple[Tensor, Tensor]:
    """Pixels (N, 3, 32, 32) uint8 and labels (N,) of one CIFAR-10 batch file, read with
    `_CifarUnpickler`; anything that is not such a batch raises ValueError naming the file."""
    def bad(why: str) -> ValueError:
        return ValueError(f"{path} is not a CIFAR-10 batch file ({why}); delete the folder "
                          f"{path.parent} and download the dataset again")

    try:
        with open(path, "rb") as f:
            entry = _CifarUnpickler(f, encoding="latin1").load()  # written by Python 2
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError) as exc:
        raise bad(f"unpickling failed: {exc}") from None
    if not isinstance(entry, dict) or "data" not in entry or "labels" not in entry:
        raise bad("expected a dict with 'data' and 'labels'")
    data, labels = entry["data"], entry["labels"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        raise bad("'data' must be a uint8 array (N, 3072)")
    if not (isinstance(labels, list) and len(labels) == len(data)
            and all(isinstance(y, int) and 0 <= y < 10 for y in labels)):
        raise bad(f"'labels' must be {len(data)} ints in 0..9")
    data = np.ascontiguousarray(data)  # (N, 3072): R, G, B planes
    return torch.from_numpy(data).view(-1, 3, 32, 32), torch.tensor(labels, dtype=torch.long)
