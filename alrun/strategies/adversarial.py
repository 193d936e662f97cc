"""DFAL, DeepFool active learning (Ducoffe & Precioso 2018): query the candidates closest to the
decision boundary, measured by the norm of the smallest perturbation DeepFool finds that changes the
predicted class.

DeepFool (Moosavi-Dezfooli, Fawzi & Frossard 2016) linearises the net at the perturbed input
``x_i = x + (1 + overshoot) r``: with ``f_k`` the logits, ``k0`` the original class and
``w_k = ∇f_k - ∇f_k0``, it steps towards the nearest linearised boundary,
``l = argmin_k |f_k - f_k0| / ‖w_k‖``, ``r += (|f_l - f_k0| / ‖w_l‖ + 1e-4) w_l / ‖w_l‖``, until the
prediction changes or ``max_iter`` steps (DeepAL's cap, 50) are done; the perturbation is
``(1 + overshoot) r``. For an affine classifier one step reaches the exact distance to the nearest
boundary. Candidates are processed together, one chunk at a time, on the inference device; a
candidate leaves the batch once its prediction has changed. Like DeepAL's ``AdversarialDeepFool``,
only the selection is DFAL's (its adversarial examples are not added to the training set), and a
candidate that never flips keeps the perturbation reached at the cap.
"""

from __future__ import annotations

import torch
from torch import nn

from alrun.config.checks import check_int, check_number
from alrun.strategies.base import QueryContext, ScoreAcquisition

STEP_EPS = 1e-4  # DeepFool's reference implementation adds it to every step's length


def _class_gradients(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``[C, n, *x]`` gradients of each logit with respect to each item's own input."""
    grads = [
        torch.autograd.grad(out[:, k].sum(), x, retain_graph=k + 1 < out.shape[1])[0]
        for k in range(out.shape[1])
    ]
    return torch.stack(grads)


def _step(out: torch.Tensor, grads: torch.Tensor, k0: torch.Tensor) -> torch.Tensor:
    """DeepFool's step towards the nearest linearised boundary, ``[n, *x]``."""
    n = len(k0)
    rows = torch.arange(n, device=out.device)
    f = (out - out[rows, k0][:, None]).detach()  # [n, C]
    w = grads - grads[k0, rows][None]  # [C, n, *x]
    norm = w.flatten(2).norm(dim=2).T  # [n, C]
    dist = f.abs() / norm
    dist[rows, k0] = torch.inf
    dist = torch.where(norm > 0, dist, torch.full_like(dist, torch.inf))
    best = dist.argmin(dim=1)
    w_l, n_l = w[best, rows], norm[rows, best]
    scale = (dist[rows, best] + STEP_EPS) / n_l
    return w_l * scale.reshape(n, *([1] * (w_l.ndim - 1)))


def deepfool(net: nn.Module, x: torch.Tensor, max_iter: int = 50, overshoot: float = 0.02) -> torch.Tensor:
    """DeepFool perturbations ``[n, *x]`` of the inputs ``x`` (``net`` in eval mode; its weights untouched).

    Returns ``(1 + overshoot) r`` for every item; ``x + (1 + overshoot) r`` is classified differently
    from ``x`` unless ``max_iter`` steps were not enough.
    """
    x0 = x.detach().clone()
    with torch.no_grad():
        k0 = net(x0).argmax(dim=1)
    r = torch.zeros_like(x0)
    active = torch.arange(len(x0), device=x0.device)
    for _ in range(max_iter):
        if not len(active):
            break
        xi = (x0[active] + (1 + overshoot) * r[active]).requires_grad_(True)
        with torch.enable_grad():
            out = net(xi)
            still = out.argmax(dim=1) == k0[active]
            if not still.any():
                break
            grads = _class_gradients(out, xi)[:, still]
        active = active[still]
        r[active] += _step(out[still], grads, k0[active])
    return (1 + overshoot) * r


class Dfal(ScoreAcquisition):
    """DFAL: the smallest DeepFool perturbation first (score ``-‖r(x)‖₂``).

    Args:
        max_iter: DeepFool steps at most (DeepAL: 50).
        overshoot: DeepFool's overshoot (its reference value, 0.02).
    """

    def __init__(self, max_iter: int = 50, overshoot: float = 0.02) -> None:
        self.max_iter = check_int("strategy.max_iter", max_iter, 1)
        self.overshoot = check_number("strategy.overshoot", overshoot, 0.0)

    def score(self, ctx: QueryContext) -> torch.Tensor:
        """Negated L2 norms of the candidates' DeepFool perturbations, float64 on the CPU."""
        if len(ctx) == 0:
            return torch.empty(0, dtype=torch.float64)
        norms = ctx.map_chunks(  # under several ranks: every k-th chunk, gathered
            lambda chunk: (
                deepfool(ctx.net, chunk, self.max_iter, self.overshoot).flatten(1).double().norm(dim=1).cpu()
            )
        )
        return -norms
