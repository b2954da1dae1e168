r"""Data for the book: toy 2-D Gaussian mixtures, image datasets and device-resident batches.

The ring (8 modes) and grid (25 modes) mixtures are the mode-collapse benchmarks of VEEGAN
(Srivastava et al., NeurIPS 2017, arXiv:1705.07761) and PacGAN (Lin et al., NeurIPS 2018,
arXiv:1712.04086). Images are float32 tensors (N, C, H, W) in [-1, 1]. Nothing is downloaded
unless a caller passes ``download=True``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

DATA_ENV = "GANBOOK_DATA"  # folder for downloaded datasets; default ~/.cache/ganbook
SPLITS = ("train", "test", "all")
DIGITS_TEST_FRACTION = 0.2  # 359 of the 1,797 digits are held out
DIGITS_SPLIT_SEED = 0  # seed of the permutation that picks them


class MixtureOfGaussians:
    r"""An equal-weight mixture of :math:`K` isotropic Gaussians in :math:`D` dimensions.

    .. math:: p(x) = \frac{1}{K} \sum_{k=1}^{K} \mathcal{N}(x;\ \mu_k,\ \sigma^2 I)

    Args:
        centers: the means :math:`\mu_k`, shape (K, D).
        std: the common standard deviation :math:`\sigma > 0` of every component.
    """

    def __init__(self, centers: Tensor, std: float) -> None:
        centers = torch.as_tensor(centers, dtype=torch.float32)
        if centers.ndim != 2 or centers.shape[0] == 0:
            raise ValueError(f"centers must have shape (K, D), K >= 1; got {tuple(centers.shape)}")
        if not std > 0:
            raise ValueError(f"std must be positive, got {std}")
        self.centers = centers  # (K, D)
        self.std = float(std)

    @property
    def num_modes(self) -> int:
        """:math:`K`, the number of components."""
        return self.centers.shape[0]

    @property
    def dim(self) -> int:
        """:math:`D`, the dimension of one sample."""
        return self.centers.shape[1]

    def sample_with_modes(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        r"""Draw :math:`k \sim \mathrm{Uniform}\{0, \dots, K-1\}`, then
        :math:`x = \mu_k + \sigma \epsilon` with :math:`\epsilon \sim \mathcal{N}(0, I)`.

        Returns x (n, D) float32 and the modes k (n,) int64, on the generator's device.
        """
        device = generator.device if generator is not None else self.centers.device
        modes = torch.randint(self.num_modes, (n,), generator=generator, device=device)
        eps = torch.randn(n, self.dim, generator=generator, device=device)  # (n, D)
        return self.centers.to(device)[modes] + self.std * eps, modes

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n samples, shape (n, D) float32 (see `sample_with_modes`)."""
        return self.sample_with_modes(n, generator)[0]

    def log_prob(self, x: Tensor) -> Tensor:
        r"""The exact log-density of each row of x (n, D), shape (n,):

        .. math:: \log p(x) = \operatorname{logsumexp}_k
            \Big(-\frac{\lVert x - \mu_k \rVert^2}{2\sigma^2}\Big) - \log K
            - \frac{D}{2} \log(2\pi\sigma^2)

        The logsumexp keeps it finite far from every mode, where each density underflows.
        """
        mu = self.centers.to(x.device, x.dtype)
        sq_dist = (x[:, None, :] - mu[None, :, :]).square().sum(-1)  # (n, K)
        log_norm = math.log(self.num_modes) + 0.5 * self.dim * math.log(2 * math.pi * self.std**2)
        return torch.logsumexp(-sq_dist / (2 * self.std**2), dim=1) - log_norm


def ring_mixture(num_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> MixtureOfGaussians:
    r"""Modes evenly spaced on a circle: :math:`\mu_k = r(\cos\theta_k, \sin\theta_k)`,
    :math:`\theta_k = 2\pi k / K` for :math:`k = 0, \dots, K-1`.

    The defaults are the ring of VEEGAN (Srivastava et al., 2017, arXiv:1705.07761) and PacGAN
    (Lin et al., 2018, arXiv:1712.04086). The angles stop short of :math:`2\pi` (``endpoint=False``
    in ``np.linspace`` terms); including it would repeat the first mode and leave K - 1 centres.
    """
    if num_modes < 1:
        raise ValueError(f"num_modes must be at least 1, got {num_modes}")
    theta = 2 * math.pi * torch.arange(num_modes, dtype=torch.float64) / num_modes
    centers = radius * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)  # (K, 2)
    return MixtureOfGaussians(centers.float(), std)


def grid_mixture(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> MixtureOfGaussians:
    r"""A ``side`` x ``side`` grid of modes, ``spacing`` apart and centred on the origin.

    The defaults give the 25 centres :math:`\{-4, -2, 0, 2, 4\}^2` with :math:`\sigma = 0.05`, the
    grid of VEEGAN (Srivastava et al., 2017, arXiv:1705.07761) and PacGAN (Lin et al., 2018,
    arXiv:1712.04086).
    """
    if side < 1:
        raise ValueError(f"side must be at least 1, got {side}")
    coords = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")
    return MixtureOfGaussians(torch.stack([gx.flatten(), gy.flatten()], dim=1).float(), std)


class DatasetInfo(NamedTuple):
    """What a model needs to know about an image dataset."""

    shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int


DATASET_INFO: dict[str, DatasetInfo] = {
    "digits": DatasetInfo((1, 8, 8), 10),  # scikit-learn's bundled 1,797 handwritten digits
    "mnist": DatasetInfo((1, 28, 28), 10),  # 60,000 train / 10,000 test handwritten digits
    "fashion-mnist": DatasetInfo((1, 28, 28), 10),  # same sizes, Zalando clothing photos
    "cifar10": DatasetInfo((3, 32, 32), 10),  # 50,000 train / 10,000 test colour photos
}


def _info(name: str) -> DatasetInfo:
    if name not in DATASET_INFO:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASET_INFO)}")
    return DATASET_INFO[name]


def image_shape(name: str) -> tuple[int, int, int]:
    """(C, H, W) of one image of dataset `name`."""
    return _info(name).shape


def num_classes(name: str) -> int:
    """The number of label classes of dataset `name`."""
    return _info(name).num_classes


def load_images(
    name: str, root: str | os.PathLike | None = None, download: bool = False, split: str = "train"
) -> tuple[Tensor, Tensor]:
    r"""Images (N, C, H, W) float32 in [-1, 1] and labels (N,) int64 of dataset `name`.

    Pixels map linearly, :math:`x = 2p/p_{\max} - 1`: 0..16 for "digits", 0..255 otherwise.
    "digits" is bundled with scikit-learn; its test split is a fixed 20 % drawn by
    ``torch.randperm`` with a generator seeded 0. "mnist", "fashion-mnist" and "cifar10" are read
    from `root` (default ``$GANBOOK_DATA``, else ``~/.cache/ganbook``) in torchvision's layout,
    and fetched only if ``download=True``. `split` is "train", "test" or "all" (both).
    """
    _info(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if name == "digits":
        return _load_digits(split)
    root = Path(root or os.environ.get(DATA_ENV) or "~/.cache/ganbook").expanduser()
    if split == "all":
        parts = [load_images(name, root, download, s) for s in ("train", "test")]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    from ganbook.datafiles import load_cifar10, load_mnist

    load = load_cifar10 if name == "cifar10" else load_mnist
    pixels, labels = load(name, root, download, split)  # uint8 (N, C, H, W), int64 (N,)
    return pixels.float() / 127.5 - 1, labels


def _load_digits(split: str) -> tuple[Tensor, Tensor]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no network

    digits = load_digits()
    images = torch.from_numpy(digits.images).float().unsqueeze(1) / 8 - 1  # (1797, 1, 8, 8)
    labels = torch.from_numpy(digits.target).long()
    if split == "all":
        return images, labels
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    num_test = round(DIGITS_TEST_FRACTION * len(labels))
    idx = (perm[:num_test] if split == "test" else perm[num_test:]).sort().values  # keep order
    return images[idx], labels[idx]


class InfiniteBatches(Iterator):
    """Endless shuffled mini-batches of rows of `tensors`, already on the device.

    The tensors move to `device` once (None: they stay where they are); each epoch draws a new
    permutation from a CPU ``torch.Generator`` seeded with `seed`, so the batches are the same on
    every device. Yields a Tensor if one tensor was given, else a tuple whose rows stay aligned.
    With `drop_last`, every batch has `batch_size` rows and an epoch's last
    ``n mod batch_size`` shuffled rows are skipped. `state_dict` / `load_state_dict` resume
    exactly: a restored iterator yields the batches the original would have yielded next.
    """

    def __init__(self, tensors: Tensor | tuple[Tensor, ...], batch_size: int, *, seed: int = 0,
                 device: str | torch.device | None = None, drop_last: bool = True) -> None:
        self._single = isinstance(tensors, Tensor)
        tensors = (tensors,) if self._single else tuple(tensors)
        sizes = [len(t) for t in tensors]
        if not sizes or len(set(sizes)) != 1:
            raise ValueError(f"need tensors with the same first dimension (one row per example), "
                             f"got first dimensions {sizes}")
        if not 1 <= batch_size <= sizes[0]:
            raise ValueError(f"batch_size must be between 1 and the dataset size {sizes[0]}, "
                             f"got {batch_size}; use a smaller batch or more data")
        self.tensors = tuple(t.to(device) for t in tensors) if device is not None else tensors
        self.num_examples, self.batch_size, self.drop_last = sizes[0], batch_size, drop_last
        self._generator = torch.Generator().manual_seed(seed)
        self._start_epoch(0)

    @property
    def batches_per_epoch(self) -> int:
        """Batches in one pass over the data."""
        n, b = self.num_examples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def _start_epoch(self, epoch: int) -> None:
        self.epoch, self._position = epoch, 0
        self._epoch_rng_state = self._generator.get_state()  # replays this epoch's permutation
        perm = torch.randperm(self.num_examples, generator=self._generator)
        self._perm = perm.to(self.tensors[0].device)

    def __next__(self) -> Tensor | tuple[Tensor, ...]:
        end = self._position + self.batch_size
        if self._position >= self.num_examples or (self.drop_last and end > self.num_examples):
            self._start_epoch(self.epoch + 1)
        idx = self._perm[self._position : self._position + self.batch_size]
        self._position += len(idx)
        batch = tuple(t[idx.to(t.device)] for t in self.tensors)
        return batch[0] if self._single else batch

    def state_dict(self) -> dict[str, Any]:
        """Where the iterator is: epoch, position in it, and the generator state at its start."""
        return {"epoch": self.epoch, "position": self._position,
                "rng_state": self._epoch_rng_state.clone(), "num_examples": self.num_examples,
                "batch_size": self.batch_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state` (from `state_dict` on the same data and batch size)."""
        for key in ("num_examples", "batch_size"):
            if state[key] != getattr(self, key):
                raise ValueError(f"state has {key}={state[key]}, this iterator "
                                 f"{getattr(self, key)}; resume with the same data and batch size")
        self._generator.set_state(state["rng_state"])
        self._start_epoch(state["epoch"])  # redraws the same permutation
        self._position = state["position"]


def infinite_batches(tensors: Tensor | tuple[Tensor, ...], batch_size: int, *, seed: int = 0,
                     device: str | torch.device | None = None,
                     drop_last: bool = True) -> InfiniteBatches:
    """Endless shuffled device-resident batches: shorthand for `InfiniteBatches`."""
    return InfiniteBatches(tensors, batch_size, seed=seed, device=device, drop_last=drop_last)


class MixtureBatches(Iterator):
    """Endless batches of fresh samples (batch_size, D) from `mixture`, moved to `device`.

    Samples come from a CPU ``torch.Generator`` seeded with `seed` (the same on every device);
    `state_dict` / `load_state_dict` resume the stream exactly.
    """

    def __init__(self, mixture: MixtureOfGaussians, batch_size: int, *, seed: int = 0,
                 device: str | torch.device | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.mixture, self.batch_size, self.device = mixture, batch_size, device
        self._generator = torch.Generator().manual_seed(seed)

    def __next__(self) -> Tensor:
        x = self.mixture.sample(self.batch_size, generator=self._generator)
        return x if self.device is None else x.to(self.device)

    def state_dict(self) -> dict[str, Any]:
        """The generator state, which with the batch size fixes every batch to come."""
        return {"rng_state": self._generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the stream from `state` (from `state_dict`)."""
        self._generator.set_state(state["rng_state"])


def to_unit_range(x: Tensor) -> Tensor:
    r"""Map images from [-1, 1] to [0, 1]: :math:`(x + 1) / 2`."""
    return (x + 1) / 2


def to_signed_range(x: Tensor) -> Tensor:
    r"""Map images from [0, 1] to [-1, 1]: :math:`2x - 1`."""
    return 2 * x - 1
