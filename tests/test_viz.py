import numpy as np
import pytest
import torch

from ganbook.models import MLPDiscriminator
from ganbook.train import History
from ganbook.viz import (
    FAKE_COLOR,
    REAL_COLOR,
    animate_2d,
    plot_2d,
    plot_history,
    show_images,
    snapshot_2d,
)


def test_show_images_grid_is_in_unit_range():
    images = torch.linspace(-1, 1, 4 * 64).reshape(4, 1, 8, 8)
    ax = show_images(images, nrow=2, title="t", padding=0)
    grid = ax.get_images()[0].get_array()
    assert grid.shape == (16, 16, 3)
    assert grid.min() == pytest.approx(0.0) and grid.max() == pytest.approx(1.0)
    assert ax.get_title() == "t"


def test_show_images_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        show_images(torch.zeros(4, 8, 8))


def test_plot_history_draws_both_panels():
    history = History(step=[1, 2, 3], loss_d=[1.0, 0.9, 0.8], loss_g=[0.7, 0.8, 0.9],
                      d_real=[0.6, 0.6, 0.5], d_fake=[0.4, 0.4, 0.5], penalty=[0, 0, 0],
                      grad_norm_d=[1, 1, 1], grad_norm_g=[1, 1, 1], time=[0.1, 0.2, 0.3])
    fig = plot_history(history)
    ax_loss, ax_d = fig.axes
    assert list(ax_loss.lines[0].get_ydata()) == [1.0, 0.9, 0.8]
    assert ax_d.lines[0].get_color() == REAL_COLOR and ax_d.lines[1].get_color() == FAKE_COLOR


def test_snapshot_heat_map_is_sigmoid_of_d():
    D = MLPDiscriminator(hidden_dim=8)
    snap = snapshot_2d(5, torch.zeros(10, 2), D, bounds=(-1.0, 1.0), grid_size=3, num_arrows=4)
    with torch.no_grad():
        corner = torch.sigmoid(D(torch.tensor([[-1.0, -1.0], [1.0, 1.0]])))
    assert snap.heat.shape == (3, 3) and snap.arrows.shape == (4, 2)
    assert np.allclose([snap.heat[0, 0], snap.heat[2, 2]], corner.numpy(), atol=1e-6)


def test_plot_2d_and_animation():
    snaps = [snapshot_2d(s, torch.randn(20, 2)) for s in (1, 2)]
    ax = plot_2d(snaps[0], real=torch.randn(30, 2))
    assert ax.get_title() == "step 1" and len(ax.collections) == 2
    html = animate_2d(snaps).to_jshtml()
    assert "<img" in html or "frames" in html
    with pytest.raises(ValueError, match="at least one snapshot"):
        animate_2d([])


def test_snapshot_arrows_work_under_no_grad():
    D = MLPDiscriminator(hidden_dim=8)
    with torch.no_grad():
        snap = snapshot_2d(1, torch.randn(6, 2), D, num_arrows=3)
    assert snap.arrows.shape == (3, 2) and np.isfinite(snap.arrows).all()
