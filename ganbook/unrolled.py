r"""Unrolled GAN (Metz, Poole, Pfau & Sohl-Dickstein, "Unrolled Generative Adversarial
Networks", ICLR 2017, arXiv:1611.02163): the generator is scored by a discriminator that has
been allowed to answer it.

With D's weights :math:`\theta_D^0 = \theta_D` and k look-ahead steps of D's own optimiser,

.. math:: \theta_D^{j+1} = \theta_D^j - \eta\,\mathrm{step}\big(\nabla_{\theta_D}
          L_D(\theta_G, \theta_D^j)\big), \qquad j = 0, \dots, k - 1,

G minimises its loss against :math:`D_{\theta_D^k}` and takes the gradient *through* the k
steps (Metz et al., Eq. 6–7): a generator that piles its samples on the point D currently
likes best sees that D, one step later, dislikes it, and pays for it now. D's own update is the
ordinary one; the look-ahead weights are thrown away after G's step.

Choices here (the paper leaves them open): every look-ahead step reuses the real batch of D's
last update and G's current fake batch, so unrolling draws no extra random numbers; the step
is Adam's, continuing from D's optimiser state (moments, step count, learning rate); in the
derivative Adam's per-weight scale :math:`1/(\sqrt{\hat v} + \epsilon)` is held constant
(the gradient flows through the first moment, i.e. through D's gradients, as in plain SGD).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ganbook.losses import get_losses


def _call(D: nn.Module, params: dict[str, Tensor], x: Tensor, y: Tensor | None) -> Tensor:
    return functional_call(D, params, (x,) if y is None else (x, y))


def unrolled_weights(D: nn.Module, opt_d: torch.optim.Optimizer, x_real: Tensor,
                     x_fake: Tensor, y: Tensor | None, loss: str, k: int) -> dict[str, Tensor]:
    r"""D's weights after `k` look-ahead Adam steps on (`x_real`, `x_fake`), as a differentiable
    function of `x_fake` (and so of G's weights): :math:`\theta_D^k` of Metz et al. (2017), Eq. 6.

    `D` and `opt_d` are left untouched; `loss` is a key of ``ganbook.losses.LOSSES``. With k = 0
    the result is D's own weights (detached).
    """
    if k < 0:
        raise ValueError(f"the number of unrolling steps must be >= 0, got {k}")
    d_loss_fn, _ = get_losses(loss)
    group = opt_d.param_groups[0]
    lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
    names = [name for name, p in D.named_parameters()]
    params = {name: p.detach() for name, p in D.named_parameters()}
    state = [opt_d.state.get(p, {}) for p in D.parameters()]
    m = [s["exp_avg"] if "exp_avg" in s else torch.zeros_like(p)
         for s, p in zip(state, params.values(), strict=True)]
    v = [s["exp_avg_sq"] if "exp_avg_sq" in s else torch.zeros_like(p)
         for s, p in zip(state, params.values(), strict=True)]
    t = int(state[0]["step"]) if "step" in state[0] else 0
    buffers = dict(D.named_buffers())
    for _ in range(k):
        leaves = {n: (p if p.requires_grad else p.requires_grad_(True)) for n, p in params.items()}
        both = {**leaves, **buffers}
        d_loss = d_loss_fn(_call(D, both, x_real, y).float(), _call(D, both, x_fake, y).float())
        grads = torch.autograd.grad(d_loss, list(leaves.values()), create_graph=True)
        t += 1
        new_params = {}
        for i, (name, g) in enumerate(zip(names, grads, strict=True)):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g.detach().square()
            scale = lr / (1 - beta1 ** t) / ((v[i] / (1 - beta2 ** t)).sqrt() + eps)
            new_params[name] = leaves[name] - scale * m[i]
        params = new_params
    return {**params, **buffers}


def unrolled_logits(D: nn.Module, opt_d: torch.optim.Optimizer, x_real: Tensor, x_fake: Tensor,
                    y: Tensor | None, loss: str, k: int) -> Tensor:
    """D's logits for `x_fake` after `k` look-ahead steps (`unrolled_weights`): what G's loss
    sees in an unrolled GAN. Gradients reach G through `x_fake` directly and through the steps."""
    return _call(D, unrolled_weights(D, opt_d, x_real, x_fake, y, loss, k), x_fake, y)
