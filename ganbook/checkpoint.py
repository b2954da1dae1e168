"""Checkpoints: atomic writes, safe reads, the checks that a resumed run is the same run, and the
tools a command line needs to own an output folder (an exclusive lock, stale temporaries).

A checkpoint is a plain dict of tensors and Python values written with `torch.save` and read with
`torch.load(weights_only=True)`, so reading one never runs code from the file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import torch

CHECKPOINT_FORMAT = "ganbook-checkpoint-v1"
# Config fields that may differ between a checkpoint and the run that resumes it.
_RESUMABLE_CHANGES = {"num_steps", "progress", "checkpoint_every", "num_threads"}
# What `fit` writes, and needs back to resume; "batches", "G_ema" and "run" are optional.
FIT_KEYS = ("step", "G", "D", "opt_g", "opt_d", "scaler", "noise", "history", "config")
LOCK_NAME = ".ganbook.lock"  # the lock file a run holds in its output folder


class TrainingStopped(Exception):  # noqa: N818 (a request, not an error)
    """`fit` stopped early because its `stop` callable asked it to.

    Attributes:
        step: the last completed step.
        checkpoint_path: where that step was saved, or None when fit had no checkpoint_path.
        history: the `~ganbook.train.History` up to `step`.
    """

    def __init__(self, step: int, checkpoint_path: str | os.PathLike | None,
                 history: Any = None) -> None:
        where = (f"saved to {checkpoint_path}; resume with fit(..., resume=True)"
                 if checkpoint_path is not None else "nothing saved (no checkpoint_path)")
        super().__init__(f"training stopped on request after step {step}, {where}")
        self.step, self.checkpoint_path, self.history = step, checkpoint_path, history


class OutputLocked(RuntimeError):
    """Another process holds the lock on an output folder (see `lock_folder`)."""


def _temporary(path: Path) -> tuple[IO[bytes], Path]:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    return os.fdopen(fd, "wb"), Path(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (temporary file in the same folder, fsync, rename):
    a reader sees the old file or the new one, never a part."""
    save_to(path, lambda f: f.write(data))


def save_to(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(f)`` on a temporary file next to `path`, flush it to disk, then rename it over
    `path`; on any failure (full disk, an exception, Ctrl-C) remove the temporary and re-raise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    f, tmp = _temporary(path)
    try:
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write `state` with `torch.save` atomically: to a temporary file in the same folder, flushed
    to disk, then renamed over `path`, so a crash mid-write never leaves a broken checkpoint
    (a process killed mid-write leaves a ``.NAME.*.tmp`` file; see `remove_stale_temporaries`)."""
    save_to(path, lambda f: torch.save({"format": CHECKPOINT_FORMAT, **state}, f))


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


def check_fit_state(state: Mapping[str, Any], path: str | os.PathLike = "the checkpoint") -> None:
    """Raise ValueError unless `state` has every key `fit` needs to resume (`FIT_KEYS`)."""
    missing = [k for k in FIT_KEYS if k not in state]
    if missing:
        raise ValueError(f"{path} has the ganbook format tag but lacks {', '.join(missing)}: it "
                         "was not written by fit or is damaged; start a new run elsewhere")


def check_same_run(saved: Mapping[str, Any] | None, now: Mapping[str, Any] | None,
                   path: str | os.PathLike = "the checkpoint") -> None:
    """Refuse to resume a run that trained on something else: `saved` is the checkpoint's
    ``run`` entry (what it trains on, e.g. data set and recipe), `now` the resuming run's.
    Checkpoints without one (or runs that pass none) are not compared."""
    if saved is None or now is None:
        return
    saved, now = dict(saved), dict(now)
    if saved != now:
        def describe(run: dict[str, Any]) -> str:
            return ", ".join(f"{k}={v}" for k, v in sorted(run.items()))
        raise ValueError(f"{path} was trained with {describe(saved)}, this run asks for "
                         f"{describe(now)}; resume with the same settings or start a new run "
                         "in another folder")


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


@contextlib.contextmanager
def lock_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on `folder` (``flock`` on its `LOCK_NAME` file) while the block runs.

    Raises `OutputLocked` at once if another process holds it. The kernel drops the lock when
    the holder exits, however it exits (even SIGKILL), so a killed run never blocks the next.
    Yields the lock file's path; it stays in the folder, unlocked, afterwards.
    """
    lock_path = Path(folder) / LOCK_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            _try_lock(fd)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK):
                raise
            holder = _read_holder(lock_path)
            raise OutputLocked(f"{folder} is in use by another run (pid {holder}); wait for it "
                               "to finish or choose another output folder") from None
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".ljust(16).encode())  # 16 bytes: no truncate needed
        yield lock_path
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _try_lock(fd: int) -> None:
    """Take an exclusive, non-blocking lock on `fd`: ``flock`` on POSIX, ``msvcrt.locking`` of
    the first byte on Windows (where a locked region also cannot be read by others)."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_holder(lock_path: Path) -> str:
    try:
        return lock_path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files that killed writes of `path` left beside it; returns them.

    Only safe while no other process writes `path` (hold `lock_folder` on its folder)."""
    path = Path(path)
    stale = sorted(path.parent.glob(f".{path.name}.*.tmp"))
    for tmp in stale:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return stale


class StopOnSignal:
    """A context manager for ``fit(..., stop=handler.event.is_set)``: while active, SIGTERM and
    SIGINT (Ctrl-C) set `event`, so fit saves a checkpoint after the current step and raises
    `TrainingStopped`. The first signal restores the previous handlers: a second one acts at
    once (the atomic checkpoint writes keep the last file whole). `received` names the signal.
    Outside the main thread, where Python cannot set handlers, it does nothing.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.event, self.received = threading.Event(), None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = signal.Signals(signum).name
        self.event.set()
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        print(f"\n{self.received} received: saving a checkpoint after the current step "
              "(send it again to stop at once)", file=sys.stderr, flush=True)

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
