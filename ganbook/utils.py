"""Reproducibility and hardware: seeds, the device to run on, and the mixed-precision dtype."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

# One environment variable per switch, read in one place each.
DEVICE_ENV = "GANBOOK_DEVICE"  # e.g. "cpu" to force the CPU on a GPU machine
PROGRESS_ENV = "GANBOOK_PROGRESS"  # "0" turns every ganbook progress bar off (CI sets it)


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, NumPy and PyTorch (CPU and every CUDA device) with `seed`.

    The same seed on the same device and library versions gives the same result. Code that
    needs an independent stream should still pass its own `torch.Generator`.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device to use: `device` if given, else `$GANBOOK_DEVICE`, else cuda → mps → cpu."""
    choice = device if device is not None else os.environ.get(DEVICE_ENV) or None
    if choice is not None:
        try:
            resolved = torch.device(choice)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"{choice!r} is not a device name; use cpu, cuda, cuda:N or mps "
                             "(or leave the device unset to pick the best one)") from exc
        if resolved.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {choice!r} was asked for but CUDA is not available "
                               "here; use 'cpu' or leave the device unset to pick the best one")
        if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
            raise RuntimeError(f"device {choice!r} was asked for but only "
                               f"{torch.cuda.device_count()} CUDA device(s) exist here")
        mps = getattr(torch.backends, "mps", None)
        if resolved.type == "mps" and not (mps is not None and mps.is_available()):
            raise RuntimeError(f"device {choice!r} was asked for but MPS is not available "
                               "here; use 'cpu' or leave the device unset to pick the best one")
        if resolved.type not in {"cpu", "cuda", "mps"}:
            raise ValueError(f"device {choice!r} is not supported by ganbook; use cpu, cuda "
                             "or mps")
        return resolved
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(device: str | torch.device) -> torch.dtype | None:
    """The automatic-mixed-precision dtype for `device`, or None where AMP is not used.

    CUDA: bfloat16 where the GPU supports it (Ampere and later), else float16 (which then needs
    gradient scaling, see `needs_grad_scaler`). CPU and MPS: None, training runs in float32.
    """
    if torch.device(device).type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def needs_grad_scaler(dtype: torch.dtype | None) -> bool:
    """True for float16: its small range needs the loss scaled so gradients do not underflow."""
    return dtype == torch.float16


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to show a progress bar: `progress` if given, else `$GANBOOK_PROGRESS` (on)."""
    if progress is not None:
        return bool(progress)
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}
