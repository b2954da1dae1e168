"""The state of one training run and its two updates, the discriminator's and the generator's:
the inside of `ganbook.train.fit`, kept apart so that the loop driver stays short. Private: use
`fit`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ganbook.checkpoint import check_same_config
from ganbook.distributed import local_slice, world_size, wrap_for_ddp
from ganbook.loaders import batch_stream, next_batch
from ganbook.losses import bce_d_loss, get_losses, gradient_penalty, r1_penalty
from ganbook.models import sample_latent
from ganbook.unrolled import unrolled_logits
from ganbook.utils import autocast_dtype, needs_grad_scaler

if TYPE_CHECKING:
    from ganbook.train import History, TrainConfig


def _as_batch(batch: Tensor | Sequence[Tensor]) -> tuple[Tensor, Tensor | None]:
    """Split what the batch iterator yields into (x_real, labels or None)."""
    if isinstance(batch, Tensor):
        return batch, None
    return batch[0], (batch[1] if len(batch) > 1 else None)


def _call(net: nn.Module, inputs: Tensor, y: Tensor | None) -> Tensor:
    return net(inputs) if y is None else net(inputs, y)


def _grad_norm(module: nn.Module) -> Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads, foreach=True) if grads else torch.zeros(())


class _Loop:
    """The state of one training run (networks, optimisers, noise stream) and its two updates."""

    def __init__(self, G: nn.Module, D: nn.Module, batches: Iterable, config: TrainConfig,
                 G_ema: nn.Module | None = None):
        self.G, self.config, self.G_ema = G, config, G_ema
        self.device = next(G.parameters()).device
        self.D, self.batches = D, batch_stream(batches, self.device)
        self.d_loss_fn, self.g_loss_fn = get_losses(config.loss)
        if config.real_label < 1:  # one-sided label smoothing (Salimans et al. 2016, Sec. 3.4)
            self.d_loss_fn = functools.partial(bce_d_loss, real_label=config.real_label)
        self.sigma = config.instance_noise  # instance-noise std of the current step
        # foreach: one call updates every tensor of a network. On the CPU, where torch's default
        # is a loop over tensors, it gave the same weights bit for bit in our 400-step checks.
        if config.optimizer == "sgd":
            self.opt_g = torch.optim.SGD(G.parameters(), lr=config.lr_g, foreach=True)
            self.opt_d = torch.optim.SGD(D.parameters(), lr=config.lr_d, foreach=True)
        else:
            self.opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=config.betas,
                                          foreach=True)
            self.opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=config.betas,
                                          foreach=True)
        self.noise = torch.Generator(device=self.device).manual_seed(config.seed)
        # On W processes (torchrun) each draws the global batch of noise and keeps its slice, so
        # the streams stay the same everywhere and W processes reproduce one (ganbook.distributed).
        self.world = world_size()
        if config.batch_size % self.world:
            raise ValueError(f"TrainConfig.batch_size {config.batch_size} does not split over "
                             f"{self.world} processes; use a multiple of {self.world}")
        self.amp_dtype = autocast_dtype(self.device) if config.amp else None
        self.scaler = torch.amp.GradScaler(self.device.type,
                                           enabled=needs_grad_scaler(self.amp_dtype))
        compile_ = torch.compile if config.compile and self.device.type == "cuda" else (lambda m: m)
        self.D_plain = compile_(D)  # G's turn needs no gradient averaging for D's weights
        if self.world > 1:
            G, D = wrap_for_ddp(G), wrap_for_ddp(D)
        self.G_call, self.D_call = compile_(G), compile_(D)
        self.conditional = getattr(G, "num_classes", None) is not None

    def set_lr_scale(self, step: int) -> None:
        """The learning rates at `step`: the config's, times the decay factors for the last
        `lr_decay_fraction` of the steps (a step decay: smaller final updates leave less of the
        game's jitter in the weights)."""
        cfg = self.config
        decayed = step >= cfg.first_decayed_step
        for opt, lr, factor in ((self.opt_g, cfg.lr_g, cfg.g_decay_factor),
                                (self.opt_d, cfg.lr_d, cfg.lr_decay_factor)):
            for group in opt.param_groups:
                group["lr"] = lr * factor if decayed else lr

    def update_ema(self, step: int) -> None:
        r"""Exponential moving average of G's weights over the decayed steps (all steps without a
        decay): :math:`\theta_{ema} \leftarrow \beta\,\theta_{ema} + (1 - \beta)\,\theta`, with
        :math:`\beta` = `ema_decay`, restarted from G's weights at the first of them (Yazici et al.,
        "The Unusual Effectiveness of Averaging in GAN Training", ICLR 2019, arXiv:1806.04498).
        Averaging only the small final steps keeps networks that place the modes differently, as
        G does at full learning rates, out of the average. Buffers (BatchNorm statistics) are G's.
        """
        cfg = self.config
        first = cfg.first_decayed_step if cfg.lr_decay_fraction > 0 else 1
        if self.G_ema is None or step < first:
            return
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
                if step == first:
                    p_ema.copy_(p)
                else:
                    p_ema.lerp_(p, 1 - cfg.ema_decay)
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
                b_ema.copy_(b)

    def latent(self, n: int) -> Tensor:
        """This process's n latent codes: its slice of the global batch of n x W codes."""
        z = sample_latent(n * self.world, self.G.latent_dim, generator=self.noise,
                          device=self.device)
        return z if self.world == 1 else local_slice(z)

    def blur(self, x: Tensor) -> Tensor:
        """x plus instance noise N(0, sigma^2) from the run's noise stream (x itself if sigma = 0).

        Instance noise (Sonderby et al., ICLR 2017, arXiv:1610.04490; Arjovsky & Bottou,
        ICLR 2017, arXiv:1701.04862): D compares the two distributions convolved with the same
        Gaussian, whose supports always overlap, so its gradients stay informative."""
        if self.sigma == 0:
            return x
        eps = torch.randn((x.shape[0] * self.world, *x.shape[1:]), generator=self.noise,
                          device=x.device, dtype=x.dtype)  # the global batch's noise, as z
        return x + self.sigma * (eps if self.world == 1 else local_slice(eps))

    def clip_weights(self) -> None:
        """WGAN weight clipping: every parameter of D clamped to [-c, c] after its update
        (Arjovsky, Chintala & Bottou, ICML 2017, arXiv:1701.07875, Algorithm 1)."""
        c = self.config.clip_value
        if c > 0:
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-c, c)

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _update(self, opt: torch.optim.Optimizer, loss: Tensor, module: nn.Module) -> Tensor:
        opt.zero_grad(set_to_none=True)  # gradients would otherwise add up across steps
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(opt)  # so the recorded norm is the true gradient's
        norm = _grad_norm(module)
        self.scaler.step(opt)
        self.scaler.update()
        return norm

    def d_step(self) -> tuple[Tensor, ...]:
        """One discriminator update on a fresh real batch and a fresh fake batch."""
        cfg = self.config
        x_real, y = _as_batch(next_batch(self.batches, self.device))
        y = y if self.conditional else None
        z = self.latent(x_real.shape[0])
        x_real = self.blur(x_real)
        if cfg.r1_gamma > 0:
            x_real = x_real.detach().requires_grad_(True)  # R1 needs dD/dx on real data
        with self.autocast():
            with torch.no_grad():  # no graph through G: this update only changes D
                x_fake = self.blur(_call(self.G_call, z, y))
            real_logits = _call(self.D_call, x_real, y).float()
            fake_logits = _call(self.D_call, x_fake, y).float()
            loss = self.d_loss_fn(real_logits, fake_logits)
        penalty = torch.zeros((), device=self.device)
        if cfg.lambda_gp > 0:
            gp = gradient_penalty(self.D_call, x_real, x_fake, y, generator=self.noise)
            penalty = penalty + cfg.lambda_gp * gp
        if cfg.r1_gamma > 0:
            penalty = penalty + 0.5 * cfg.r1_gamma * r1_penalty(real_logits, x_real)
        norm = self._update(self.opt_d, loss + penalty, self.D)
        self.clip_weights()
        self.x_real = x_real.detach()  # the real batch an unrolled G step looks ahead with
        d_real = torch.sigmoid(real_logits.detach()).mean()
        d_fake = torch.sigmoid(fake_logits.detach()).mean()
        return loss.detach(), d_real, d_fake, penalty.detach(), norm, y

    def g_step(self, y: Tensor | None) -> tuple[Tensor, Tensor]:
        """One generator update on fresh noise (labels: those of the last real batch)."""
        n = self.config.batch_size // self.world if y is None else y.shape[0]
        z = self.latent(n)
        # Only G's weights need gradients in G's turn; the gradient still flows through D to
        # G(z). Not computing D's weight gradients saves 7% of a step on the 2-D mixtures.
        trainable = [p for p in self.D.parameters() if p.requires_grad]
        for p in trainable:
            p.requires_grad_(False)
        try:
            with self.autocast():
                x_fake = self.blur(_call(self.G_call, z, y))
                fake_logits = (_call(self.D_plain, x_fake, y) if not self.config.unroll_steps
                               else unrolled_logits(self.D, self.opt_d, self.x_real, x_fake, y,
                                                    self.config.loss, self.config.unroll_steps)
                               ).float()
                loss = self.g_loss_fn(fake_logits)
            norm = self._update(self.opt_g, loss, self.G)
        finally:
            for p in trainable:
                p.requires_grad_(True)
        return loss.detach(), norm

    def state_dict(self, step: int, history: History,
                   run_info: dict[str, Any] | None = None) -> dict[str, Any]:
        state = {"step": step, "G": self.G.state_dict(), "D": self.D.state_dict(),
                 "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                 "scaler": self.scaler.state_dict(), "noise": self.noise.get_state(),
                 "history": history.to_dict(), "config": dataclasses.asdict(self.config)}
        if hasattr(self.batches, "state_dict"):
            state["batches"] = self.batches.state_dict()
        if self.G_ema is not None:
            state["G_ema"] = self.G_ema.state_dict()
        if run_info is not None:
            state["run"] = dict(run_info)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> tuple[int, dict[str, list]]:
        check_same_config(state["config"], dataclasses.asdict(self.config),
                          {f.name: f.default for f in dataclasses.fields(self.config)})
        try:
            return self._restore(state)
        except (KeyError, TypeError, RuntimeError) as exc:  # e.g. other network shapes
            raise ValueError(f"the checkpoint does not fit these networks or this run ({exc}); "
                             "resume with the models and data it was trained with") from exc

    def _restore(self, state: dict[str, Any]) -> tuple[int, dict[str, list]]:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.G_ema is not None and "G_ema" in state:
            self.G_ema.load_state_dict(state["G_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler.load_state_dict(state["scaler"])
        self.noise.set_state(state["noise"])
        if "batches" in state and hasattr(self.batches, "load_state_dict"):
            self.batches.load_state_dict(state["batches"])
        return int(state["step"]), state["history"]  # fit makes it a History
