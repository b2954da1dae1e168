"""The training loop. It knows nothing about one particular GAN: it takes two networks, a
stream of real batches and a `TrainConfig`, and alternates discriminator and generator updates
as in Algorithm 1 of Goodfellow et al. (2014), with the loss pair and penalties the config names.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ganbook._loop import _Loop
from ganbook.checkpoint import (
    TrainingStopped,
    check_fit_state,
    check_same_run,
    load_checkpoint,
    save_checkpoint,
)
from ganbook.distributed import (
    any_process,
    is_main_process,
)
from ganbook.losses import LOSSES, bce_d_loss, get_losses
from ganbook.threads import auto_num_threads, cpu_threads
from ganbook.utils import progress_enabled


@dataclass(frozen=True)
class TrainConfig:
    """Every hyper-parameter of `fit`. Defaults follow DCGAN (Radford et al. 2016, Sec. 4)."""

    num_steps: int = 2000  # generator updates; each comes after `n_critic` discriminator updates
    batch_size: int = 64  # noise samples per update (real batches come from `batches`)
    lr_g: float = 2e-4  # Adam learning rate of G
    lr_d: float = 2e-4  # Adam learning rate of D (TTUR: make it larger than lr_g)
    betas: tuple[float, float] = (0.5, 0.999)  # Adam (beta1, beta2); beta1 = 0.5 damps oscillation
    loss: str = "nonsaturating"  # a key of ganbook.losses.LOSSES
    n_critic: int = 1  # discriminator updates per generator update (k in Algorithm 1)
    lambda_gp: float = 0.0  # weight of the WGAN-GP gradient penalty (10 in Gulrajani et al.)
    r1_gamma: float = 0.0  # gamma of the R1 penalty, (gamma / 2) * R1 is added to D's loss
    seed: int = 0  # seeds the noise stream (z, and epsilon of the gradient penalty)
    amp: bool = True  # mixed precision on CUDA (bf16, or fp16 with loss scaling); ignored on CPU
    compile: bool = False  # torch.compile G and D on CUDA; ignored elsewhere
    progress: bool | None = None  # progress bar; None reads $GANBOOK_PROGRESS (default on)
    checkpoint_every: int = 0  # checkpoint every this many steps (0: only at the end)
    lr_decay_fraction: float = 0.0  # the last fraction of num_steps runs at decayed rates:
    lr_decay_factor: float = 0.1  # lr_d times this (and lr_g, unless lr_decay_factor_g is set)
    lr_decay_factor_g: float | None = None  # lr_g times this; None: lr_decay_factor
    ema_decay: float = 0.0  # > 0: fit(..., G_ema=ema_copy(G, config)) averages G's weights
    clip_value: float = 0.0  # > 0: WGAN weight clipping, every D weight kept in [-c, c]
    instance_noise: float = 0.0  # std of Gaussian noise added to every sample D sees
    instance_noise_anneal: bool = False  # True: that std falls linearly to 0 at the last step
    real_label: float = 1.0  # D's target for real samples; 0.9: one-sided label smoothing
    num_threads: int | None = None  # CPU threads; None: 1 for small nets (ganbook.threads)
    optimizer: str = "adam"  # "adam" (with `betas`), or "sgd": plain SGD, no momentum
    unroll_steps: int = 0  # k look-ahead D steps G's loss sees (unrolled GAN, ganbook.unrolled)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # every float (and tuple of floats) must be finite
            value = getattr(self, f.name)
            for v in value if isinstance(value, tuple) else (value,):
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(f"TrainConfig.{f.name} must be finite, got {value!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"TrainConfig.betas must be two numbers in [0, 1), got {self.betas!r}")
        for name in ("num_steps", "batch_size", "n_critic"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int, "
                                 f"got {getattr(self, name)!r}")
        for name in ("lr_g", "lr_d"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TrainConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.lambda_gp < 0 or self.r1_gamma < 0 or self.checkpoint_every < 0:
            raise ValueError("lambda_gp, r1_gamma and checkpoint_every must be >= 0")
        if not 0 <= self.lr_decay_fraction <= 1:
            raise ValueError(f"TrainConfig.lr_decay_fraction must be in [0, 1], "
                             f"got {self.lr_decay_fraction!r}")
        for name, value in (("lr_decay_factor", self.lr_decay_factor),
                            ("lr_decay_factor_g", self.g_decay_factor)):
            if not 0 < value <= 1:
                raise ValueError(f"TrainConfig.{name} must be in (0, 1], got {value!r}")
        if self.num_threads is not None and (not isinstance(self.num_threads, int)
                                             or self.num_threads < 1):
            raise ValueError(f"TrainConfig.num_threads must be None (automatic) or a positive "
                             f"int, got {self.num_threads!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"TrainConfig.optimizer must be 'adam' or 'sgd', "
                             f"got {self.optimizer!r}")
        if not isinstance(self.unroll_steps, int) or self.unroll_steps < 0:
            raise ValueError(f"TrainConfig.unroll_steps must be an int >= 0 (0: no unrolling), "
                             f"got {self.unroll_steps!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {sorted(LOSSES)}")
        if self.clip_value < 0 or self.instance_noise < 0:
            raise ValueError("TrainConfig.clip_value and instance_noise must be >= 0")
        if not 0.5 < self.real_label <= 1:
            raise ValueError(f"TrainConfig.real_label must be in (0.5, 1], got {self.real_label!r}")
        if self.real_label < 1 and get_losses(self.loss)[0] is not bce_d_loss:
            raise ValueError(f"TrainConfig.real_label < 1 (label smoothing) needs a "
                             f"cross-entropy loss, not {self.loss!r}: use 'nonsaturating'")

    def noise_std(self, step: int) -> float:
        r"""The instance-noise std at `step` (1-based): `instance_noise`, or with
        `instance_noise_anneal` the linear decay :math:`\sigma (1 - (t - 1) / T)`."""
        if not self.instance_noise_anneal:
            return self.instance_noise
        return self.instance_noise * (1 - (step - 1) / self.num_steps)

    @property
    def g_decay_factor(self) -> float:
        """The factor on lr_g during the decay: `lr_decay_factor_g`, or `lr_decay_factor`."""
        return self.lr_decay_factor if self.lr_decay_factor_g is None else self.lr_decay_factor_g

    @property
    def first_decayed_step(self) -> int:
        """The first step of the learning-rate decay (num_steps + 1 when there is none)."""
        return round(self.num_steps * (1 - self.lr_decay_fraction)) + 1


@dataclass
class History:
    """Per-step training record: losses, mean D outputs as probabilities, gradient norms, time.

    `d_real` and `d_fake` are the batch means of sigmoid(logit), i.e. D(x) and D(G(z)) for the
    BCE losses; `penalty` is the weighted penalty term added to D's loss (0 when none is used).
    """

    step: list[int] = field(default_factory=list)
    loss_d: list[float] = field(default_factory=list)
    loss_g: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    grad_norm_d: list[float] = field(default_factory=list)
    grad_norm_g: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)  # seconds since training began

    def __len__(self) -> int:
        return len(self.step)

    def to_dict(self) -> dict[str, list]:
        """Plain lists, ready for `json.dump`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, list]) -> History:
        """Inverse of `to_dict`."""
        return cls(**{f.name: list(data[f.name]) for f in dataclasses.fields(cls)})


Callback = Callable[[int, nn.Module, nn.Module, History], None]
_STATS = ("loss_d", "loss_g", "d_real", "d_fake", "penalty", "grad_norm_d", "grad_norm_g")


def _flush(history: History, pending: list[tuple[int, Tensor]], clock: float) -> None:
    """Move buffered per-step statistics to `history` (one device sync for many steps) and fail
    loudly, naming the step, at the first loss or gradient norm that is not finite."""
    if not pending:
        return
    stats = torch.stack([row for _, row in pending]).cpu().tolist()
    for (step, _), row in zip(pending, stats, strict=True):
        values = dict(zip(_STATS, row, strict=True))
        if not all(math.isfinite(values[k]) for k in ("loss_d", "loss_g")):
            raise FloatingPointError(
                f"training diverged at step {step}: loss_d={values['loss_d']}, "
                f"loss_g={values['loss_g']}. Try lower learning rates, a gradient penalty "
                "(lambda_gp or r1_gamma), or spectral norm on D.")
        history.step.append(step)
        for key in _STATS:
            getattr(history, key).append(values[key])
        history.time.append(clock)
    pending.clear()


def ema_copy(G: nn.Module, config: TrainConfig) -> nn.Module | None:
    """What `fit` expects as `G_ema`: a copy of G when `config.ema_decay > 0`, else None."""
    return copy.deepcopy(G) if config.ema_decay > 0 else None


def fit(
    G: nn.Module,
    D: nn.Module,
    batches: Iterable,
    config: TrainConfig,
    *,
    callbacks: Sequence[Callback] = (),
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool = False,
    G_ema: nn.Module | None = None,
    stop: Callable[[], bool] | None = None,
    run_info: dict[str, Any] | None = None,
) -> History:
    r"""Train G and D for `config.num_steps` generator updates and return the `History`.

    Each step: `config.n_critic` discriminator updates (each on a fresh real batch from
    `batches`: tensors, or (x, y) pairs for conditional models, moved to G's device), then one
    generator update on fresh noise. `batches` is an endless iterator (ganbook's
    `infinite_batches`) or any re-iterable such as a DataLoader, which fit cycles epoch after
    epoch (`ganbook.loaders.EpochBatches`). After each step every callback is
    called as `callback(step, G, D, history)` with `step` counting from 1.

    With `checkpoint_path`, a checkpoint is written atomically every `config.checkpoint_every`
    steps and at the end; with `resume=True` and an existing checkpoint, training continues
    from it. If `batches` has `state_dict`/`load_state_dict` (ganbook's iterators do), a resumed
    run on the CPU reproduces an uninterrupted one exactly; so does a DataLoader whose sampler
    has ``set_epoch`` (a DistributedSampler). A plain shuffling DataLoader's order cannot be
    restored: the resumed run starts the saved epoch again in a new order, with a warning.

    With `config.ema_decay > 0`, pass `G_ema=ema_copy(G, config)`: fit keeps in it the exponential
    moving average of G's weights over the steps of the learning-rate decay (over all steps when
    there is no decay), :math:`\theta_{ema} \leftarrow \beta\,\theta_{ema} + (1 - \beta)\,\theta_G`
    with :math:`\beta` = ``config.ema_decay``, restarted from G's weights at the first of those
    steps, and saves and restores it with the checkpoint. Sample from `G_ema.eval()` afterwards.

    `stop` (e.g. ``threading.Event().is_set``, set by a signal handler) is asked after every
    step; when it returns True, fit writes a checkpoint of that step (with `checkpoint_path`) and
    raises `~ganbook.checkpoint.TrainingStopped`. `run_info` (e.g. ``{"data": "ring"}``) records
    what the run trains on in the checkpoint; resuming with a different one is refused.

    On the CPU, fit runs on `config.num_threads` threads, or, when that is None, on one thread
    for networks as small as the book's 2-D and 8x8 models and on torch's default otherwise
    (`ganbook.threads.auto_num_threads`, which runs one forward pass of D(G(z)) on two codes, in
    eval mode without gradients, to count FLOPs); the caller's thread count is restored at the
    end.

    Under torchrun (`ganbook.distributed.setup_distributed` called first), G and D are wrapped
    in DistributedDataParallel with SyncBatchNorm, `batches` must yield this process's slice of
    each global batch (`ganbook.distributed.RankSlice`), `config.batch_size` is the global batch,
    and only process 0 writes the checkpoint; every process calls the callbacks.
    """
    if (config.ema_decay > 0) != (G_ema is not None):
        raise ValueError("TrainConfig.ema_decay > 0 and G_ema go together: pass "
                         "G_ema=ema_copy(G, config), which is None when ema_decay is 0")
    loop = _Loop(G, D, batches, config, G_ema)
    start, history = 0, History()
    if resume and checkpoint_path is not None and Path(checkpoint_path).is_file():
        state = load_checkpoint(checkpoint_path)
        check_fit_state(state, checkpoint_path)
        check_same_run(state.get("run"), run_info, checkpoint_path)
        start, saved_history = loop.load_state_dict(state)
        history = History.from_dict(saved_history)
        if start > config.num_steps:
            raise ValueError(f"{checkpoint_path} is at step {start}, past num_steps = "
                             f"{config.num_steps}; ask for at least {start} steps")
    run = (loop, start, history, callbacks, checkpoint_path, stop, run_info)
    if loop.device.type != "cpu":
        return _run_steps(*run)
    with cpu_threads(config.num_threads or auto_num_threads(G, D, config.batch_size)):
        return _run_steps(*run)


def _run_steps(loop: _Loop, start: int, history: History, callbacks: Sequence[Callback],
               checkpoint_path: str | os.PathLike | None, stop: Callable[[], bool] | None,
               run_info: dict[str, Any] | None) -> History:
    """Steps `start + 1` to `num_steps` of `fit`, appended to `history`."""
    G, D, config = loop.G, loop.D, loop.config
    G.train()
    D.train()
    offset = history.time[-1] if len(history) else 0.0
    t0 = time.perf_counter()
    sync_every = 1 if loop.device.type == "cpu" else 50  # .item() stalls a GPU; batch it
    pending: list[tuple[int, Tensor]] = []
    bar = tqdm(range(start + 1, config.num_steps + 1), initial=start, total=config.num_steps,
               disable=not (progress_enabled(config.progress) and is_main_process()), desc="fit",
               leave=False)
    for step in bar:
        loop.set_lr_scale(step)
        loop.sigma = config.noise_std(step)
        for _ in range(config.n_critic):
            loss_d, d_real, d_fake, penalty, norm_d, y = loop.d_step()
        loss_g, norm_g = loop.g_step(y)
        loop.update_ema(step)
        pending.append((step, torch.stack([loss_d, loss_g, d_real, d_fake, penalty,
                                           norm_d.to(loss_d), norm_g.to(loss_d)]).float()))
        due = checkpoint_path is not None and is_main_process() and (
            step == config.num_steps
            or (config.checkpoint_every and step % config.checkpoint_every == 0))
        if callbacks or due or step % sync_every == 0 or step == config.num_steps:
            _flush(history, pending, offset + time.perf_counter() - t0)
            bar.set_postfix(loss_d=f"{history.loss_d[-1]:.3f}", loss_g=f"{history.loss_g[-1]:.3f}",
                            refresh=False)
        if due:
            save_checkpoint(checkpoint_path, loop.state_dict(step, history, run_info))
        for callback in callbacks:
            callback(step, G, D, history)
        # Asked to stop: save, go (all processes stop at the same step under torchrun).
        if stop is not None and step < config.num_steps and any_process(stop()):
            _flush(history, pending, offset + time.perf_counter() - t0)
            if checkpoint_path is not None and not due and is_main_process():
                save_checkpoint(checkpoint_path, loop.state_dict(step, history, run_info))
            bar.close()
            raise TrainingStopped(step, checkpoint_path, history)
    bar.close()
    return history
