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
