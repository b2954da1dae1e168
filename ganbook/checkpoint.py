"""Checkpoints: atomic writes, safe reads, and the check that a resumed run is the same run.

A checkpoint is a plain dict of tensors and Python values written with `torch.save` and read with
`torch.load(weights_only=True)`, so reading one never runs code from the file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FORMAT = "ganbook-checkpoint-v1"
# Config fields that may differ between a checkpoint and the run that resumes it.
_RESUMABLE_CHANGES = {"num_steps", "progress", "checkpoint_every", "num_threads"}


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write `state` with `torch.save` atomically: to a temporary file in the same folder, flushed
    to disk, then renamed over `path`, so a crash mid-write never leaves a broken checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": CHECKPOINT_FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (tensors land on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; check the path, or train first with "
                                "fit(..., checkpoint_path=...)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} could not be read as a ganbook checkpoint ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a ganbook checkpoint (expected format "
                         f"{CHECKPOINT_FORMAT!r}); was it written by save_checkpoint?")
    return state



def check_same_config(saved: dict[str, Any], now: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Refuse to resume when a saved config differs from `now` in a field that shapes the run.

    `defaults` stands in for fields added since the checkpoint was written."""
    saved = {**defaults, **saved}
    changed = {k: (saved.get(k), v) for k, v in now.items()
               if k not in _RESUMABLE_CHANGES and _normalise(saved.get(k)) != _normalise(v)}
    if changed:
        detail = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        raise ValueError(f"the checkpoint was trained with a different config ({detail}); "
                         "resume with the same TrainConfig or use a new checkpoint_path")


def _normalise(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
