"""What embedding-based strategies ask a :class:`QueryContext` for.

Each function derives its quantity once per query through :meth:`QueryContext.cached`, in chunks of
``ctx.chunk_size`` under ``inference_mode``, and returns it on the CPU:

* :func:`features`: the candidates' penultimate-layer features ``h``, float32: ``net.embed(x)``, or
  the input of the net's last ``nn.Linear`` or of ``model.embedding_layer`` (:mod:`alrun.models.adapt`);
* :func:`labelled_features`: the same for the labelled training items;
* :func:`probabilities`: the candidates' class probabilities, float64;
* :func:`gradient_factors`: BADGE's gradient embedding ``g = (p - onehot(argmax p)) ⊗ h`` as its two
  factors, so that distances between gradient embeddings never need the ``[N, C·D]`` matrix;
* :func:`gradient_embeddings`: the explicit ``[N, C·D]`` matrix (for small pools and checks).

The candidates' features and log-probabilities come from one pass (``forward = head(embed(x))``
for every :class:`~alrun.models.nets.Classifier`; a hooked layer sees the forward pass itself), so a
strategy that needs both pays one forward pass. :class:`EmbeddingAcquisition` is the base of the
strategies that use them: it refuses, before the first fit, a net without embeddings.
"""

from __future__ import annotations

import torch
from torch import nn

from alrun.models.adapt import features_and_logits, require_embedding
from alrun.strategies.base import Acquisition, QueryContext


class EmbeddingAcquisition(Acquisition):
    """An acquisition that works on the net's embeddings (:func:`features` and friends)."""

    def check(self, net: nn.Module, name: str | None = None) -> None:
        """Refuse a net without ``embed()``, ``nn.Linear`` layer or ``model.embedding_layer``."""
        require_embedding(net, name or self.name)


def features(ctx: QueryContext) -> torch.Tensor:
    """``[N, D]`` float32 penultimate-layer features of the candidates."""
    return ctx.cached("features", lambda: _candidate_pass(ctx))


def labelled_features(ctx: QueryContext) -> torch.Tensor:
    """``[L, D]`` float32 features of the labelled items (``L = 0`` when the context has none)."""
    return ctx.cached("labelled_features", lambda: _labelled_pass(ctx))


def probabilities(ctx: QueryContext) -> torch.Tensor:
    """``[N, C]`` float64 class probabilities of the candidates."""
    return ctx.cached("probabilities", lambda: ctx.log_probs().exp())


def gradient_factors(ctx: QueryContext) -> tuple[torch.Tensor, torch.Tensor]:
    """BADGE's gradient embeddings of the candidates as factors ``(r, h)``: ``g_i = r_i ⊗ h_i``.

    ``r = p - onehot(argmax p)`` (``[N, C]`` float32) is the gradient of the cross-entropy with
    respect to the logits when the predicted class is taken as the label; ``h`` are the features.
    ``g_i`` is the gradient of that loss with respect to the last layer's weights.
    """
    return ctx.cached("gradient_residual", lambda: _residual(probabilities(ctx))), features(ctx)


def gradient_embeddings(ctx: QueryContext) -> torch.Tensor:
    """``[N, C·D]`` float32 explicit gradient embeddings (``O(N·C·D)`` memory; BADGE uses the factors)."""
    r, h = gradient_factors(ctx)
    return outer_rows(r, h)


def outer_rows(r: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Row-wise flattened outer products: row ``i`` is ``vec(r_i h_iᵀ)``, class-major."""
    return (r[:, :, None] * h[:, None, :]).reshape(len(r), -1)


def _residual(probs: torch.Tensor) -> torch.Tensor:
    onehot = torch.zeros_like(probs).scatter_(1, probs.argmax(dim=1, keepdim=True), 1.0)
    return (probs - onehot).float()


def _candidate_pass(ctx: QueryContext) -> torch.Tensor:
    """Features and log-probabilities in one pass over the candidates (sharded across ranks)."""
    width = _empty_features(ctx, ctx.x).shape[1]
    if len(ctx) == 0:
        return _empty_features(ctx, ctx.x)

    def both(chunk: torch.Tensor) -> torch.Tensor:
        h, logits = features_and_logits(ctx.net, chunk)
        return torch.cat([h.float().double(), logits.double().log_softmax(dim=-1)], dim=1).cpu()

    with torch.inference_mode():
        joined = ctx.map_chunks(both)
    ctx.cached("log_probs", lambda: joined[:, width:].contiguous())
    return joined[:, :width].float()


def _labelled_pass(ctx: QueryContext) -> torch.Tensor:
    x = ctx.labelled_x if ctx.labelled_x is not None else ctx.x[:0]
    with torch.inference_mode():
        parts = [features_and_logits(ctx.net, chunk)[0].float().cpu() for chunk in ctx.chunks(x)]
        return torch.cat(parts) if parts else _empty_features(ctx, x)


def _empty_features(ctx: QueryContext, x: torch.Tensor) -> torch.Tensor:
    return features_and_logits(ctx.net, x[:0])[0].float().cpu()
