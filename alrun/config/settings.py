"""Type checks of a config group's settings against its target's signature, before anything is built.

For alrun's own targets and torch's optimizers, every setting the config gives is checked against
the type hints of the constructor it reaches: ``model.hidden=abc`` (a list of integers),
``optimizer.lr=null`` (a number), ``strategy.consistent=no`` (a boolean: booleans accept booleans
only), ``dataset.drop=id`` (a list) are each one :class:`~alrun.errors.ConfigError` line in the
wording of :mod:`alrun.config.checks`. Ranges are checked where the values are used (alrun's
constructors) or by building the object once (the optimizer, see ``alrun.run.preflight``).
A hint this module does not know accepts any value.
"""

from __future__ import annotations

import collections.abc as abc
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from alrun.config.checks import show
from alrun.config.instantiation import locate
from alrun.errors import ConfigError

CHECKED_TARGETS = ("alrun.", "torch.optim.", "lightning.pytorch.Trainer")
SEQUENCES = (list, tuple, abc.Sequence, abc.Iterable, abc.Collection, abc.MutableSequence)
NAMES = {int: "integers", float: "numbers", str: "strings", bool: "true, false", type(None): "null"}
ONE = {int: "an integer", float: "a number", str: "a string"}


def type_hints(target: Any) -> dict[str, Any]:
    """The resolved type hints of ``target``'s constructor (or function); empty when they cannot be read."""
    func = target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(func)
    except Exception:  # an unresolvable forward reference: check nothing rather than guess
        return {}


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def matches(value: Any, hint: Any) -> bool:
    """Whether a config value (None, bool, int, float, str, list or dict) fits the type hint ``hint``
    (a ``_target_`` node fits any: Hydra builds it into whatever its target makes)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if is_target_node(value):
        return True
    if _is_union(hint):
        return any(matches(value, a) for a in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if hint is Any or hint is object:
        return True
    if hint in NAMES:
        return _simple(value, hint)
    if origin in SEQUENCES or hint in (list, tuple):
        return _sequence(value, origin or hint, args)
    if origin in (dict, abc.Mapping) or hint in (dict, abc.Mapping):
        return isinstance(value, dict)
    if isinstance(hint, type):  # a class: only a `_target_` node (checked before) can build one
        return isinstance(value, hint)
    return True  # a hint this module does not know (Callable, TypeVar, ...)


def _simple(value: Any, hint: type) -> bool:
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is type(None):
        return value is None
    return isinstance(value, hint)


def _sequence(value: Any, origin: Any, args: tuple[Any, ...]) -> bool:
    if not isinstance(value, list):
        return False
    if origin is tuple and args and args[-1] is not Ellipsis:
        return len(value) == len(args) and all(matches(v, a) for v, a in zip(value, args, strict=True))
    return all(matches(v, args[0]) for v in value) if args else True


def members(hint: Any) -> list[Any]:
    """The members of a union (nested unions flattened), or ``[hint]``."""
    if not _is_union(hint):
        return [hint]
    return [m for a in typing.get_args(hint) for m in members(a)]


def _is_choice(hint: Any) -> bool:
    return hint in (bool, type(None)) or typing.get_origin(hint) is typing.Literal


def describe(hint: Any) -> str:
    """What fits ``hint``, in words (``integers``, ``lists of integers``, ``numbers or null``)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if _is_union(hint):
        parts = [m for m in members(hint) if describe(m) and not (m is int and float in members(hint))]
        sep = ", " if all(_is_choice(m) for m in parts) else " or "
        return sep.join(dict.fromkeys(describe(m) for m in parts))
    if origin is typing.Literal:
        return ", ".join(show(a) for a in args)
    if hint in NAMES:
        return NAMES[hint]
    if origin in SEQUENCES or hint in (list, tuple):
        words = describe(args[0]) if args else ""
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"lists of {len(args)} {words}".rstrip()
        return f"lists of {words}" if words else "lists"
    if isinstance(hint, type) and hint not in (dict,):
        return ""  # a class a config value cannot be (a tensor): leave it out of the words
    return "mappings" if hint in (dict, abc.Mapping) or origin in (dict, abc.Mapping) else ""


def refusal(key: str, value: Any, hint: Any) -> str:
    """The one line for a value that does not fit ``hint``, in the wording of :mod:`alrun.config.checks`."""
    words = describe(hint)
    plain = [a for a in members(hint) if describe(a)]
    if all(_is_choice(a) for a in plain):
        return f"{key}={show(value)} is not allowed (choose from: {words})"
    if len(plain) == 1 and plain[0] in ONE:
        return f"{key}={show(value)} is not {ONE[plain[0]]} (allowed: {words})"
    sequence = len(plain) == 1 and (typing.get_origin(plain[0]) in SEQUENCES or plain[0] in (list, tuple))
    if sequence and not isinstance(value, list):
        return f"{key}={show(value)} is not a list (allowed: {words})"
    return f"{key}={show(value)} is not allowed (allowed: {words})"


def is_target_node(value: Any) -> bool:
    """A nested config node that Hydra instantiates (it has a ``_target_``)."""
    return isinstance(value, Mapping) and "_target_" in value


def check_settings(node: DictConfig | Mapping[str, Any], key: str) -> None:
    """Refuse the first setting of ``node`` (config group ``key``) whose value does not fit the hint
    of the constructor parameter it reaches; nested ``_target_`` nodes are checked too.

    Raises:
        ConfigError: a value of the wrong type, naming the key, the value and what is allowed.
        UserCodeError: the target cannot be imported.
    """
    values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    assert isinstance(values, dict)
    target = values.get("_target_")
    hints: dict[str, Any] = {}
    if isinstance(target, str) and target.startswith(CHECKED_TARGETS):
        hints = type_hints(locate(target, key))
    for name, value in values.items():
        setting = f"{key}.{name!s}"
        if str(name).startswith("_"):
            continue
        if is_target_node(value):
            check_settings(value, setting)
        elif name in hints and not matches(value, hints[name]):
            raise ConfigError(refusal(setting, value, hints[name]))
