"""Deep ensembles (Lakshminarayanan et al. 2017; Beluch et al. 2018 for active learning): M members of
one architecture, each with its own seeded initialisation, trained together as one batched model.

* Members: the ``member`` model config built M times; member m is initialised under the seed
  ``derive(s, m)``, with ``s`` drawn from torch's global RNG inside the round's ``weights`` scope (so
  the members differ, are seeded by the run's seed, and member m does not depend on M).
* One model: :func:`~alrun.models.batched.batch_members` runs all members in one call; the loss is
  the sum over members of each member's mean cross-entropy, so each member gets the gradient it
  would get alone (with an elementwise optimizer such as Adam or SGD, the members train as M
  separate fits on the same mini-batches would).
* ``bootstrap: true``: each member trains on its own bootstrap resample of the labelled items (counts
  drawn once per fit, stream ``bootstrap``), as per-item loss weights.
* Prediction: ``forward`` returns ``log p̄``, the log of the members' mean probabilities, so evaluation
  and every single-prediction strategy see the ensemble's mean prediction; ``member_logits`` gives the
  ``[M, N, C]`` logits that ``strategy.source=members`` scores (BALD, vote entropy, EPIG, ...).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from alrun.config.checks import check_int
from alrun.data.tensors import TensorData
from alrun.models.batched import batch_members
from alrun.models.nets import Classifier
from alrun.seeding import derive, torch_global_seed


def _split(net: nn.Module) -> bool:
    """Whether ``net`` is ``head(body(x))`` (alrun's nets): then features exist between the two."""
    return isinstance(net, Classifier) and type(net).forward is Classifier.forward


def build_member(member: Callable[..., nn.Module], input_shape: Sequence[int], n_classes: int) -> nn.Module:
    """One member, given the dataset's ``input_shape`` and ``n_classes`` where its constructor takes them."""
    try:
        params = inspect.signature(member).parameters
    except (TypeError, ValueError):  # no signature to read: pass nothing
        params = {}  # type: ignore[assignment]
    given = {"input_shape": tuple(input_shape), "n_classes": int(n_classes)}
    return member(**{k: v for k, v in given.items() if k in params})


def log_mean_probs(logits: torch.Tensor) -> torch.Tensor:
    """``[M, N, C]`` member logits -> ``[N, C]`` log of the members' mean probabilities."""
    return torch.logsumexp(logits.log_softmax(dim=-1), dim=0) - math.log(logits.shape[0])


class EnsembleHead(nn.Module):
    """The members' heads: ``[N, M·D]`` features side by side -> ``log p̄``; ``members``: per member."""

    def __init__(self, heads: nn.Module, m: int) -> None:
        super().__init__()
        self.heads, self.m = heads, m

    def members(self, h: torch.Tensor) -> torch.Tensor:
        """``[M, N, D]`` per-member features -> ``[M, N, C]`` logits."""
        return self.heads(h)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``[N, M·D]`` -> ``[N, C]`` ``log p̄``."""
        return log_mean_probs(self.heads(h.reshape(h.shape[0], self.m, -1).transpose(0, 1)))


class Ensemble(Classifier):
    """M members trained and evaluated as one model.

    ``body`` and ``head`` are the members' (when the member model is ``head(body(x))``): ``body`` maps
    ``[M, N, ...]`` to ``[M, N, D]``, :meth:`embed` gives ``[N, M·D]``, ``head`` maps that to ``log p̄``.

    Args:
        input_shape: shape of one input item (from the dataset).
        n_classes: number of classes (from the dataset).
        member: builds one member from ``input_shape`` and ``n_classes`` (a model config).
        members: M, the number of members (at least 2).
        bootstrap: train each member on its own bootstrap resample of the labelled items.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        member: Callable[..., nn.Module],
        members: int = 5,
        bootstrap: bool = False,
    ) -> None:
        super().__init__()
        self.members = check_int("model.members", members, 2)
        self.bootstrap = bool(bootstrap)
        base = int(torch.randint(0, 2**62, (), dtype=torch.int64).item())  # the weights scope's draw
        nets = []
        for m in range(self.members):
            with torch_global_seed(derive(base, m)):
                nets.append(build_member(member, input_shape, n_classes))
        self.member_type = type(nets[0]).__name__
        self.split = _split(nets[0])
        if self.split:
            self.body = batch_members([n.get_submodule("body") for n in nets])
            self.head = EnsembleHead(batch_members([n.get_submodule("head") for n in nets]), self.members)
        else:
            self.whole = batch_members(nets)
            self.__dict__["embed"] = None  # no features: embedding strategies are refused before any fit

    def _expand(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(self.members, *x.shape)

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``[M, N, C]`` logits of every member."""
        if self.split:
            assert isinstance(self.head, EnsembleHead)
            return self.head.members(self.body(self._expand(x)))
        return self.whole(self._expand(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C]`` log of the members' mean probabilities (normalised: its softmax is ``p̄``)."""
        return log_mean_probs(self.member_logits(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, M·D]`` features: every member's penultimate features side by side (members that are
        ``head(body(x))`` only; for others ``embed`` is ``None``)."""
        h = self.body(self._expand(x))
        return h.transpose(0, 1).reshape(x.shape[0], -1)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Sum over members of each member's mean cross-entropy on the mini-batch.

        ``y`` is ``[B]`` labels, or ``[B, 1 + M]``: labels, then each member's bootstrap count of the
        item (:meth:`training_data`), which weights its loss.
        """
        logits = self.member_logits(x)
        labels = y if y.ndim == 1 else y[:, 0]
        ce = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.repeat(self.members), reduction="none"
        ).reshape(self.members, -1)
        if y.ndim == 2:
            ce = ce * y[:, 1:].T.to(ce.dtype)
        return ce.mean(dim=1).sum()

    def training_data(self, data: TensorData, generator: torch.Generator) -> TensorData:
        """The labelled items to train on: with ``bootstrap``, each member's bootstrap counts (drawn
        from ``generator``) ride along with the labels as ``[L, 1 + M]`` targets."""
        if not self.bootstrap:
            return data
        n = len(data)
        draws = torch.randint(n, (self.members, n), generator=generator)
        counts = torch.stack([torch.bincount(d, minlength=n) for d in draws]).T.to(data.y.device)
        return TensorData(data.x, torch.cat([data.y[:, None], counts], dim=1), data.index)
