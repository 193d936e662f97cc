"""The one owner of what a resumed run restores of a Strategy: its round, both pools, the model's
weights and the fitting's snapshot. Acquisitions are stateless (whatever they draw comes from the
round's streams), and every stream is a pure function of ``(seed, name, round)``, so nothing else is
needed to continue as if the run had never stopped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import torch

from alrun.active.pool import ActivePool


class _Resumable(Protocol):
    round: int
    train_pool: ActivePool
    val_pool: ActivePool | None
    fitting: Any

    @property
    def net(self) -> torch.nn.Module: ...


class ResumeState:
    """``state_dict()`` / ``load_state_dict()`` of a Strategy's resumable state (plain tensors and
    containers, loadable with ``torch.load(weights_only=True)``).

    Args:
        strategy: the Strategy whose state this is.
    """

    def __init__(self, strategy: _Resumable) -> None:
        self.strategy = strategy

    def state_dict(self) -> dict[str, Any]:
        """Round, pools, weights and the fitting's state, detached on the CPU."""
        s = self.strategy
        return {
            "round": s.round,
            "train_pool": s.train_pool.state_dict(),
            "val_pool": s.val_pool.state_dict() if s.val_pool is not None else None,
            "net": {k: v.detach().cpu().clone() for k, v in s.net.state_dict().items()},
            **s.fitting.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        s = self.strategy
        s.round = int(state["round"])
        s.train_pool.load_state_dict(state["train_pool"])
        if s.val_pool is not None and state["val_pool"] is not None:
            s.val_pool.load_state_dict(state["val_pool"])
        s.net.load_state_dict(state["net"])
        s.fitting.load_state_dict(dict(state))
