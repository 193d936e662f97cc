"""Your own strategy: a scoring function, a :class:`ScoreAcquisition` or an :class:`Acquisition`.

A plain function ``scores = f(log_probs)`` is a strategy when its config says ``_partial_: true``:

* ``log_probs``: float64 log-probabilities of the candidates, ``[N, C]``; with ``mc_samples: T`` in
  the config, ``[T, N, C]`` from T MC-dropout passes (``consistent: true`` shares the masks);
* ``scores``: ``[N]``, higher = query first (a tensor, an array or a list); the top n are picked,
  ties broken by the round's seeded tie-break stream, as for every built-in score.

:func:`build_acquisition` builds the ``strategy`` config: each function node in it (the strategy
itself, or the ``base`` of ``power_*`` / ``softmax_*`` / ``softrank_*``) becomes a
:class:`FunctionScore`, so a function composes with the stochastic wrappers like a built-in score.
The keys ``mc_samples`` and ``consistent`` of a function node are alrun's (unless the function takes
parameters of those names); every other key is bound to the function.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from torch import nn

from alrun.config.checks import check_int
from alrun.config.instantiation import instantiate_checked
from alrun.errors import ConfigError
from alrun.strategies.base import Acquisition, QueryContext, ScoreAcquisition
from alrun.strategies.mc import mc_log_probs, require_dropout

RESERVED = ("mc_samples", "consistent")


class FunctionScore(ScoreAcquisition):
    """A score computed by a function of the candidates' log-probabilities.

    Args:
        fn: ``scores = fn(log_probs)``; ``[N, C]`` (or ``[T, N, C]`` with ``mc_samples``) to ``[N]``.
        mc_samples: T MC-dropout passes (``None``: one deterministic pass).
        consistent: one dropout mask per pass shared by every candidate.
    """

    def __init__(
        self, fn: Callable[..., Any], mc_samples: int | None = None, consistent: bool = False
    ) -> None:
        self.fn, self.consistent = fn, bool(consistent)
        self.mc_samples = None if mc_samples is None else check_int("strategy.mc_samples", mc_samples, 1)
        inner = fn.func if isinstance(fn, functools.partial) else fn
        args, kwargs = (fn.args, fn.keywords) if isinstance(fn, functools.partial) else ((), {})
        try:
            inspect.signature(inner).bind(None, *args, **kwargs)
        except TypeError as exc:
            raise ConfigError(
                f"strategy {self.name}: {exc}; alrun calls it as {self.name}(log_probs)"
            ) from None

    @property
    def name(self) -> str:
        """The function's name (``my_score``)."""
        fn = self.fn
        inner = fn.func if isinstance(fn, functools.partial) else fn
        return str(getattr(inner, "__name__", type(inner).__name__))

    def check(self, net: nn.Module, name: str | None = None) -> None:
        """With ``mc_samples``, refuse a net without dropout layers."""
        if self.mc_samples is not None:
            require_dropout(net, name or self.name, self.consistent)

    def score(self, ctx: QueryContext) -> torch.Tensor:
        """``[N]`` float64 scores from the function, checked for shape and NaN."""
        log_probs = (
            ctx.log_probs()
            if self.mc_samples is None
            else mc_log_probs(ctx, self.mc_samples, self.consistent)
        )
        out = self.fn(log_probs)
        array = np.asarray(out.detach().cpu() if isinstance(out, torch.Tensor) else out)
        if array.shape != (len(ctx),) or array.dtype.kind not in "biuf":
            raise ConfigError(
                f"strategy {self.name} returned {type(out).__name__} of shape {array.shape} "
                f"(dtype {array.dtype}) for {len(ctx)} candidates; it must return one number per "
                "candidate, [N]"
            )
        scores = torch.as_tensor(array, dtype=torch.float64)
        if torch.isnan(scores).any():
            raise ConfigError(
                f"strategy {self.name} returned NaN scores for {int(torch.isnan(scores).sum())} candidates"
            )
        return scores


def build_acquisition(node: DictConfig) -> Acquisition:
    """The ``strategy`` config's acquisition: a built-in or user class, or a scoring function."""
    spec = OmegaConf.to_container(node, resolve=True)
    built = instantiate_checked(OmegaConf.create(wrap_functions(spec, "strategy")), "strategy")
    if isinstance(built, functools.partial) and _is_acquisition_class(built.func):
        built = built()  # a class given `_partial_: true`
    if not isinstance(built, Acquisition):
        raise ConfigError(
            f"strategy: {node.get('_target_')} built a {type(built).__name__}; a strategy is a scoring "
            "function (with `_partial_: true`), or a ScoreAcquisition or Acquisition subclass"
        )
    return built


def _is_acquisition_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, Acquisition)


def wrap_functions(spec: Any, key: str) -> Any:
    """``spec`` with every node whose target is a function wrapped in a :class:`FunctionScore` node."""
    if isinstance(spec, list):
        return [wrap_functions(v, f"{key}.{i}") for i, v in enumerate(spec)]
    if not isinstance(spec, dict):
        return spec
    spec = {k: wrap_functions(v, f"{key}.{k}") for k, v in spec.items()}
    target = spec.get("_target_")
    if not isinstance(target, str):
        return spec
    try:
        obj = get_object(target)
    except Exception:  # an unknown target: instantiate reports it
        return spec
    if isinstance(obj, type) or not callable(obj):
        return spec
    if spec.get("_partial_") is not True:
        raise ConfigError(
            f"{key}: {target} is a function; a scoring function needs `_partial_: true` in its config "
            "(alrun calls it with the log-probabilities)"
        )
    params = _parameters(obj)
    ours = {k: spec.pop(k) for k in RESERVED if k in spec and k not in params}
    return {"_target_": f"{__name__}.FunctionScore", "fn": spec, **ours}


def _parameters(fn: Any) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()
