r"""A classifier judge for generated digits: a small CNN trained on scikit-learn's 8x8 digits.

Inception-based scores (Salimans et al., NeurIPS 2016, arXiv:1606.03498; Heusel et al.,
NeurIPS 2017, arXiv:1706.08500) judge samples with a network trained on ImageNet. For 8x8
digits we train our own judge in seconds on a CPU, as the mode-collapse experiments of
Metz et al. (ICLR 2017, arXiv:1611.02163) and Srivastava et al. (VEEGAN, NeurIPS 2017,
arXiv:1705.07761) do with an MNIST classifier. Its penultimate layer gives the features of a
Fréchet distance (`ganbook.metrics.judge_fid`); its predicted labels give class coverage
(`ganbook.metrics.class_histogram`). The judge never writes or downloads anything.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganbook.data import load_images

IMAGE_SHAPE = (1, 8, 8)  # scikit-learn's digits: one channel, 8x8 pixels
NUM_CLASSES = 10  # the digits 0..9


@dataclass(frozen=True)
class JudgeConfig:
    """How `train_digits_judge` trains a `DigitsJudge` (the defaults reach ~98 % test accuracy)."""

    seed: int = 0  # seeds the initial weights and the order of the mini-batches
    epochs: int = 12  # passes over the 1,438 training digits
    batch_size: int = 64  # digits per Adam step
    max_lr: float = 3e-3  # peak learning rate of the one-cycle schedule
    feature_dim: int = 64  # width of the penultimate layer, the features of `judge_fid`


class DigitsJudge(nn.Module):
    r"""A small CNN classifier of 8x8 digits in [-1, 1]; ``forward`` returns logits (N, 10).

    Two 3x3 convolutions (16, 32 channels, ReLU), a 2x2 max-pool to 4x4, a ReLU hidden layer of
    ``feature_dim`` units (the *features*, :math:`\phi(x)`) and a linear layer to 10 logits.
    Build a trained one with `train_digits_judge`.
    """

    def __init__(self, feature_dim: int = 64) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),  # (N, 16, 8, 8)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),  # (N, 32, 8, 8)
            nn.MaxPool2d(2), nn.Flatten(),  # (N, 32 * 4 * 4)
            nn.Linear(32 * 4 * 4, feature_dim), nn.ReLU())  # (N, feature_dim)
        self.head = nn.Linear(feature_dim, NUM_CLASSES)  # (N, 10)

    def features(self, x: Tensor) -> Tensor:
        r"""Penultimate-layer features :math:`\phi(x)` (N, feature_dim) of images x (N, 1, 8, 8)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"DigitsJudge expects images of shape (N, 1, 8, 8) in [-1, 1], "
                             f"got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits (N, 10) of images x (N, 1, 8, 8) in [-1, 1]."""
        return self.head(self.features(x))

    def logits(self, x: Tensor) -> Tensor:
        """Class logits (N, 10), the same as calling the judge."""
        return self(x)

    def predict(self, x: Tensor) -> Tensor:
        """Predicted digits (N,) int64: the argmax of the logits."""
        with torch.no_grad():  # a block, not a decorator: the API page links to this source
            return self(x).argmax(dim=1)

    def accuracy(self, images: Tensor, labels: Tensor) -> float:
        """The fraction of `images` whose predicted digit equals `labels` (N,)."""
        return float((self.predict(images) == labels.to(images.device)).float().mean())


def train_digits_judge(config: JudgeConfig | None = None,
                       device: str | torch.device | None = None) -> DigitsJudge:
    r"""A `DigitsJudge` trained on the "digits" training split, frozen, in eval mode.

    Minimises the cross-entropy :math:`-\frac{1}{B}\sum_i \log \mathrm{softmax}(f(x_i))_{y_i}`
    with Adam (Kingma & Ba, ICLR 2015, arXiv:1412.6980) under a one-cycle learning-rate
    schedule (Smith & Topin 2019, arXiv:1708.07120) for a fixed number of epochs. Deterministic:
    the weights are drawn on the CPU from a forked generator seeded ``config.seed`` (the
    global random state is left as it was) and the batches are shuffled by a
    ``torch.Generator`` with the same seed. Training takes a few seconds on one CPU core; the
    trained weights are kept in memory (never written to disk), so a second call with the same
    config and device type returns a fresh copy of them at once.
    """
    config = config or JudgeConfig()
    device = torch.device(device) if device is not None else torch.device("cpu")
    judge = DigitsJudge(config.feature_dim)
    judge.load_state_dict(_trained_state(config, device.type))
    return judge.to(device).eval().requires_grad_(False)


@functools.lru_cache(maxsize=4)
def _trained_state(config: JudgeConfig, device_type: str) -> dict[str, Tensor]:
    """The trained weights as CPU tensors (cached: the result depends only on the arguments)."""
    judge = _fit(config, torch.device(device_type))
    return {k: v.detach().cpu().clone() for k, v in judge.state_dict().items()}


def _fit(config: JudgeConfig, device: torch.device) -> DigitsJudge:
    """Train a freshly initialised judge as `train_digits_judge` describes (no cache)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        judge = DigitsJudge(config.feature_dim)
    judge.to(device).train()
    x_train, y_train = (t.to(device) for t in load_images("digits", split="train"))
    generator = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = -(-len(y_train) // config.batch_size)  # ceil: keep the last short batch
    optimizer = torch.optim.Adam(judge.parameters(), lr=config.max_lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.max_lr, total_steps=config.epochs * steps_per_epoch)
    for _ in range(config.epochs):
        order = torch.randperm(len(y_train), generator=generator).to(device)
        for idx in order.split(config.batch_size):
            loss = F.cross_entropy(judge(x_train[idx]), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return judge
