import random

import numpy as np
import pytest
import torch

from ganbook.utils import (
    autocast_dtype,
    get_device,
    needs_grad_scaler,
    progress_enabled,
    seed_everything,
)


def test_seed_everything_repeats_every_generator():
    seed_everything(123)
    first = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(123)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])


def test_seed_everything_rejects_bad_seed():
    with pytest.raises(ValueError, match="non-negative int"):
        seed_everything(-1)


def test_get_device_override_and_env(monkeypatch):
    assert get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("GANBOOK_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_get_device_cuda_without_cuda_is_clear():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        get_device("cuda")


def test_autocast_dtype_is_none_on_cpu_and_scaler_only_for_fp16():
    assert autocast_dtype("cpu") is None
    assert needs_grad_scaler(torch.float16)
    assert not needs_grad_scaler(torch.bfloat16) and not needs_grad_scaler(None)


def test_progress_enabled_argument_wins_over_env(monkeypatch):
    monkeypatch.setenv("GANBOOK_PROGRESS", "0")
    assert progress_enabled() is False
    assert progress_enabled(True) is True
    monkeypatch.setenv("GANBOOK_PROGRESS", "1")
    assert progress_enabled() is True
    assert progress_enabled(False) is False
