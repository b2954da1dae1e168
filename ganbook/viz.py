"""Pictures: image grids, training curves, and 2-D samples over the discriminator's heat map.

The whole book draws real data in `REAL_COLOR` and generated data in `FAKE_COLOR`.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import animation
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor, nn
from torchvision.utils import make_grid

from ganbook.data import to_unit_range
from ganbook.train import History

REAL_COLOR = "#2166ac"  # blue: real data, everywhere in the book
FAKE_COLOR = "#e66101"  # orange: generated data
HEATMAP_CMAP = "RdBu"  # D(x) in [0, 1]: red where D says fake, blue where it says real


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=figsize)[1]


def show_images(images: Tensor, nrow: int = 8, title: str | None = None, ax: Axes | None = None,
                padding: int = 1) -> Axes:
    """Draw a grid of images given in [-1, 1], shape (N, C, H, W) with C = 1 or 3."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C in (1, 3), got {tuple(images.shape)}")
    grid = make_grid(to_unit_range(images.detach().float().cpu()).clamp(0, 1), nrow=nrow,
                     padding=padding, pad_value=1.0)  # (3, H', W')
    ax = _axes(ax, (6, 6))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def _smooth(values: list[float], window: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot_history(history: History, smooth: int = 1, title: str | None = None) -> Figure:
    """Two panels: both losses per step, and mean D(x) and D(G(z)) per step.

    `smooth` is the width of a moving average (1: raw values). The dashed line marks D = 1/2.
    D outputs are means of sigmoid(logit): probabilities for the BCE losses only.
    """
    fig, (ax_loss, ax_d) = plt.subplots(1, 2, figsize=(11, 3.6))
    steps = np.asarray(history.step)
    x = steps[len(steps) - len(_smooth(history.loss_d, smooth)):]
    ax_loss.plot(x, _smooth(history.loss_d, smooth), label="D loss", color="0.2")
    ax_loss.plot(x, _smooth(history.loss_g, smooth), label="G loss", color=FAKE_COLOR)
    ax_loss.set(xlabel="generator step", ylabel="loss", title="Losses")
    ax_d.plot(x, _smooth(history.d_real, smooth), label="D(x), real", color=REAL_COLOR)
    ax_d.plot(x, _smooth(history.d_fake, smooth), label="D(G(z)), generated", color=FAKE_COLOR)
    ax_d.axhline(0.5, color="0.5", linestyle="--", linewidth=1)
    ax_d.set(xlabel="generator step", ylabel="mean D output", ylim=(0, 1),
             title="Discriminator outputs")
    for ax in (ax_loss, ax_d):
        ax.legend(loc="best", fontsize=9)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class Snapshot2D:
    """What `plot_2d` draws at one moment of training: numpy arrays only, cheap to keep."""

    step: int
    fake: np.ndarray  # (N, 2) generated samples
    heat: np.ndarray | None  # (grid, grid) D(x) = sigmoid(logit) over the window, or None
    arrows: np.ndarray | None  # (M, 2) direction in which G's loss pushes fakes, or None
    bounds: tuple[float, float]  # the square window [lo, hi]^2


@torch.no_grad()
def _heat_map(D: nn.Module, bounds: tuple[float, float], grid_size: int, device) -> np.ndarray:
    axis = torch.linspace(bounds[0], bounds[1], grid_size, device=device)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)  # (grid*grid, 2)
    return torch.sigmoid(D(points)).reshape(grid_size, grid_size).cpu().numpy()


def _generator_push(D: nn.Module, fake: Tensor) -> np.ndarray:
    """-grad_x of the non-saturating loss softplus(-D(x)): where G would move each fake."""
    with torch.enable_grad():  # works inside a caller's torch.no_grad() too
        x = fake.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.softplus(-D(x)).sum(), x)
    return (-grad).cpu().numpy()


def snapshot_2d(step: int, fake: Tensor, D: nn.Module | None = None,
                bounds: tuple[float, float] = (-1.5, 1.5), grid_size: int = 100,
                num_arrows: int = 0) -> Snapshot2D:
    """Record generated 2-D samples, D's heat map and optionally G's push on `num_arrows` fakes."""
    heat = arrows = None
    if D is not None:
        was_training = D.training
        D.eval()
        heat = _heat_map(D, bounds, grid_size, fake.device)
        if num_arrows:
            arrows = _generator_push(D, fake[:num_arrows])
        D.train(was_training)
    return Snapshot2D(step, fake.detach().cpu().numpy(), heat, arrows, bounds)


def _draw(ax: Axes, snap: Snapshot2D, real: np.ndarray | None) -> list:
    lo, hi = snap.bounds
    artists = []
    if snap.heat is not None:
        artists.append(ax.imshow(snap.heat, extent=(lo, hi, lo, hi), origin="lower",
                                 cmap=HEATMAP_CMAP, vmin=0, vmax=1, alpha=0.55))
    if real is not None:
        artists.append(ax.scatter(real[:, 0], real[:, 1], s=4, color=REAL_COLOR, label="real"))
    artists.append(ax.scatter(snap.fake[:, 0], snap.fake[:, 1], s=4, color=FAKE_COLOR,
                              label="generated"))
    if snap.arrows is not None:
        n = len(snap.arrows)
        scale = np.abs(snap.arrows).max() + 1e-12
        u, v = snap.arrows[:, 0] / scale, snap.arrows[:, 1] / scale
        artists.append(ax.quiver(snap.fake[:n, 0], snap.fake[:n, 1], u, v, color="k",
                                 angles="xy", scale_units="xy", scale=1 / (0.12 * (hi - lo)),
                                 width=0.003))
    ax.set(xlim=(lo, hi), ylim=(lo, hi), aspect="equal", xlabel="$x_1$", ylabel="$x_2$",
           title=f"step {snap.step}")
    return artists


def plot_2d(snap: Snapshot2D, real: Tensor | np.ndarray | None = None, ax: Axes | None = None,
            colorbar: bool = True) -> Axes:
    """Draw one `Snapshot2D`: real (blue) and generated (orange) points over D's heat map."""
    ax = _axes(ax, (5, 5))
    real_np = real.detach().cpu().numpy() if isinstance(real, Tensor) else real
    artists = _draw(ax, snap, real_np)
    if colorbar and snap.heat is not None:
        plt.colorbar(artists[0], ax=ax, fraction=0.046, pad=0.04, label="D(x)")
    ax.legend(loc="upper right", fontsize=8, markerscale=3)
    return ax


def animate_2d(snaps: list[Snapshot2D], real: Tensor | np.ndarray | None = None,
               interval: int = 200) -> animation.FuncAnimation:
    """An animation of `plot_2d` over snapshots; show it in a page with `anim.to_jshtml()`."""
    if not snaps:
        raise ValueError("animate_2d needs at least one snapshot")
    fig, ax = plt.subplots(figsize=(5, 5))
    real_np = real.detach().cpu().numpy() if isinstance(real, Tensor) else real

    def frame(i: int) -> list:
        ax.clear()
        return _draw(ax, snaps[i], real_np)

    anim = animation.FuncAnimation(fig, frame, frames=len(snaps), interval=interval)
    plt.close(fig)  # the animation is shown through to_jshtml, not as a still figure
    return anim
