"""The validation phase: checks of the composed config that need neither data nor the run folder.

The CLI calls :func:`preflight` after the cheap top-level checks (:func:`alrun.config.checks.validate`)
and before :func:`alrun.run.experiment.run_experiment`. Whatever refuses a config here (or later, before
the run starts) is one line with exit code 2, and the run folder is left as it was (``alrun.run.guard``).
Checks that build something throw-away (an optimizer over one parameter, a Lightning ``Trainer``) go
here, each raising a :class:`~alrun.errors.ConfigError` that names the key.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from alrun.config.checks import check_int, show
from alrun.config.instantiation import instantiate_checked, user_code_error
from alrun.config.settings import check_settings, matches, refusal
from alrun.errors import ConfigError, UserError
from alrun.run.loggers import check_logger

GROUPS = ("dataset", "model", "optimizer", "strategy")  # whose settings are type-checked


def preflight(cfg: DictConfig) -> None:
    """Raise a :class:`~alrun.errors.UserError` for the first setting the run cannot honour.

    Args:
        cfg: the composed run config (top-level keys already checked by ``validate``).
    """
    for group in GROUPS:
        check_settings(cfg[group], group)
    check_optimizer(cfg.optimizer)
    check_trainer(cfg.trainer)
    check_settings(cfg.trainer, "trainer")  # the rest of Lightning's settings, against its type hints
    check_logger(cfg)


def check_optimizer(node: DictConfig) -> None:
    """Build the optimizer once over a single parameter, so that a value torch refuses
    (``optimizer.lr=-1``, ``optimizer.momentum=-1``) stops the run now, naming its key."""
    factory = instantiate_checked(node, "optimizer")
    param = torch.nn.Parameter(torch.zeros(1))
    try:
        factory([param])
    except UserError:
        raise
    except Exception as exc:
        raise optimizer_refusal(node, factory, exc) from exc


def optimizer_refusal(node: DictConfig, factory: Any, exc: Exception) -> UserError:
    """The one line for settings the optimizer refused: the first key it refuses on its own."""
    settings = {k: v for k, v in _plain(node).items() if not str(k).startswith("_")}
    func = getattr(factory, "func", factory)
    for key, value in settings.items():
        try:
            func([torch.nn.Parameter(torch.zeros(1))], **{key: value})
        except Exception as alone:
            reason = " ".join(str(alone).split()) or type(alone).__name__
            return ConfigError(f"optimizer.{key}={show(value)} is not allowed ({node._target_}: {reason})")
    return user_code_error(exc, f"optimizer: {node._target_} refused its settings")


def _plain(node: DictConfig) -> dict[str, Any]:
    out = OmegaConf.to_container(node, resolve=True)
    assert isinstance(out, dict)
    return {str(k): v for k, v in out.items()}


def check_trainer(node: DictConfig | Mapping[str, Any]) -> None:
    """Cheap checks of the Lightning settings alrun relies on: ``trainer.max_epochs`` (an integer
    >= 1), ``trainer.precision`` (a value Lightning accepts) and a GPU accelerator (a visible CUDA
    device)."""
    if "max_epochs" in node:
        check_int("trainer.max_epochs", node["max_epochs"], 1)
    precision = node.get("precision")
    hint = lightning_precisions()
    if precision is not None and not matches(precision, hint):
        raise ConfigError(refusal("trainer.precision", precision, hint))
    if node.get("accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={node['accelerator']}: no CUDA device is visible; "
            "use trainer=cpu or trainer=auto"
        )


def lightning_precisions() -> Any:
    """The type of Lightning's ``Trainer(precision=...)``: a union of the accepted literals."""
    from lightning.fabric.connector import _PRECISION_INPUT

    return typing.Union[_PRECISION_INPUT, None]  # noqa: UP007 (a runtime union of Literal types)
