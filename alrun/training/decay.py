"""Weight decay on named parameters, optionally scaled by 1/N with N the round's training labels.

Gal, Islam and Ghahramani (2017) regularise only the first dense layer's weights, with Keras' L2
penalty ``l2(3.5 / N)`` recomputed every round (Riashat/Deep-Bayesian-Active-Learning,
``MC_Dropout_Keras/*_Paper.py``). Keras adds ``λ·Σw²`` to the loss, whose gradient is ``2λ·w``:
that is PyTorch's coupled ``weight_decay = 2λ = 7/N`` on that one tensor (Adam, not AdamW):

    weight_decay_groups: [{params: [body.7.weight], weight_decay: 7.0, per_label: true}]

Each group becomes its own optimizer parameter group, built afresh for every fit with the current N;
the parameters no group names keep the optimizer's own settings.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from alrun.config.checks import check_number
from alrun.errors import ConfigError

KEY = "weight_decay_groups"
FIELDS = ("params", "weight_decay", "per_label")


@dataclass(frozen=True)
class DecayGroup:
    """Coupled weight decay on the parameters whose names match ``params`` (``fnmatch`` patterns).

    Args:
        params: parameter names of the model (``body.7.weight``), or patterns (``body.*.weight``).
        weight_decay: the optimizer's ``weight_decay`` for them.
        per_label: divide ``weight_decay`` by the number of training labels of each fit.
    """

    params: tuple[str, ...]
    weight_decay: float
    per_label: bool = False

    def value(self, n_labels: int) -> float:
        """The group's weight decay for a fit on ``n_labels`` labels."""
        return self.weight_decay / max(n_labels, 1) if self.per_label else self.weight_decay


def parse_groups(spec: Iterable[Any] | None) -> tuple[DecayGroup, ...]:
    """The configured groups (a list of mappings), or a one-line :class:`ConfigError` naming the bad entry."""
    groups = []
    for i, entry in enumerate(spec or ()):
        where = f"{KEY}[{i}]"
        if not isinstance(entry, Mapping) or set(entry) - set(FIELDS) or "params" not in entry:
            raise ConfigError(
                f"{where}={entry!r} is not allowed (a mapping with params, weight_decay and, optionally, "
                "per_label)"
            )
        params = [entry["params"]] if isinstance(entry["params"], str) else list(entry["params"])
        if not params or not all(isinstance(p, str) for p in params):
            raise ConfigError(f"{where}.params={entry['params']!r} is not allowed (parameter names)")
        per_label = entry.get("per_label", False)
        if not isinstance(per_label, bool):
            raise ConfigError(f"{where}.per_label={per_label!r} is not allowed (choose from: true, false)")
        decay = check_number(f"{where}.weight_decay", entry.get("weight_decay"), 0.0)
        groups.append(DecayGroup(tuple(params), decay, per_label))
    return tuple(groups)


def assign(net: nn.Module, groups: Sequence[DecayGroup]) -> list[list[str]]:
    """The parameter names of each group; a :class:`ConfigError` for a pattern that matches no
    parameter or a parameter named by two groups."""
    names = [name for name, _ in net.named_parameters()]
    taken: dict[str, int] = {}
    out = []
    for i, group in enumerate(groups):
        mine = []
        for pattern in group.params:
            hits = fnmatch.filter(names, pattern)
            if not hits:
                raise ConfigError(
                    f"{KEY}[{i}].params: {pattern!r} matches no parameter of the model "
                    f"(parameters: {', '.join(names)})"
                )
            mine += [n for n in hits if n not in mine]
        for name in mine:
            if name in taken:
                raise ConfigError(f"{KEY}: parameter {name!r} is in groups {taken[name]} and {i}")
            taken[name] = i
        out.append(mine)
    return out


def param_groups(net: nn.Module, groups: Sequence[DecayGroup], n_labels: int) -> list[dict[str, Any]]:
    """Optimizer parameter groups: the parameters no group names first (the optimizer's settings),
    then one group per :class:`DecayGroup` with its weight decay for ``n_labels`` labels."""
    named = dict(net.named_parameters())
    members = assign(net, groups)
    taken = {name for names in members for name in names}
    rest = [p for name, p in named.items() if name not in taken]
    out: list[dict[str, Any]] = [{"params": rest}] if rest else []
    for group, names in zip(groups, members, strict=True):
        out.append({"params": [named[n] for n in names], "weight_decay": group.value(n_labels)})
    return out
