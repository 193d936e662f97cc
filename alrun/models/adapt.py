"""Any ``torch.nn.Module`` that maps a batch of inputs to logits ``[N, C]`` is a model.

:func:`model_factory` turns the ``model`` config into a function that builds a fresh net: it passes
``input_shape`` and ``n_classes`` (from the dataset) only to constructors that take them, and checks
once, on two training items, that the net returns a ``[N, C]`` tensor. Nested ``_target_`` nodes of
the config are built anew with every net, so ``reset=scratch`` never shares a sub-module.

Embedding strategies get their features from :func:`features_and_logits`, in this order:

1. ``model.embedding_layer=NAME``: the input of that layer (a forward pre-hook), flattened to ``[N, D]``;
2. the net's own ``embed(x)`` method (every :class:`~alrun.models.nets.Classifier` has one);
3. the input of the net's last ``nn.Linear`` (in registration order): the usual logit layer.

:func:`require_embedding` refuses, before the first fit, a net where none of these exists.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from alrun.config.instantiation import instantiate_checked, locate
from alrun.errors import ConfigError
from alrun.models.nets import Classifier

LAYER_ATTR = "alrun_embedding_layer"  # set on a net built with model.embedding_layer=NAME
FROM_DATASET = ("input_shape", "n_classes")


def model_factory(
    node: DictConfig, input_shape: tuple[int, ...], n_classes: int, sample: torch.Tensor
) -> Callable[[], nn.Module]:
    """A function building a fresh net from the ``model`` config for this dataset.

    Args:
        node: the ``model`` config (``_partial_`` is optional: alrun builds a net whenever it needs one).
        input_shape: shape of one input item.
        n_classes: number of classes.
        sample: a few training inputs, to check the net's output once per net.
    """
    container = OmegaConf.to_container(node, resolve=True)
    assert isinstance(container, dict)
    spec = {str(k): v for k, v in container.items()}
    layer = spec.pop("embedding_layer", None)
    spec["_partial_"] = True
    target = str(spec.get("_target_"))
    kwargs = dataset_kwargs(target, spec, {"input_shape": tuple(input_shape), "n_classes": int(n_classes)})
    partial_node = OmegaConf.create(spec)

    def build() -> nn.Module:
        net = instantiate_checked(partial_node, "model")(**kwargs)
        check_output(net, sample, n_classes, target)
        if layer is not None:
            layer_named(net, str(layer))
            setattr(net, LAYER_ATTR, str(layer))
        return net

    return build


def dataset_kwargs(target: str, spec: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The dataset's ``input_shape`` / ``n_classes`` for the constructor's parameters of those names;
    a value the config sets itself must agree with the dataset's."""
    try:
        params = inspect.signature(locate(target, "model")).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin): pass nothing
        return {}
    out = {}
    for key in FROM_DATASET:
        if key not in params:
            continue
        given = spec.get(key)
        if given is None:
            out[key] = values[key]
        elif (tuple(given) if key == "input_shape" else given) != values[key]:
            raise ConfigError(
                f"model.{key}={given} does not match the dataset ({key}={values[key]}); "
                f"leave model.{key} out: alrun passes it to every model that takes it"
            )
    return out


def check_output(net: nn.Module, sample: torch.Tensor, n_classes: int, target: str) -> None:
    """Refuse a net that is not an ``nn.Module`` or does not map ``sample`` to ``[N, n_classes]`` logits.

    The check runs in eval mode without gradients (dropout off, batch-norm statistics untouched),
    so it draws no random numbers and changes no weights.
    """
    if not isinstance(net, nn.Module):
        raise ConfigError(f"model: {target} built a {type(net).__name__}, not a torch.nn.Module")
    was_training, name = net.training, type(net).__name__
    net.eval()
    try:
        with torch.no_grad():
            out = net(sample)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:  # e.g. shapes that do not fit
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"model {name} fails on {len(sample)} items of shape {tuple(sample.shape[1:])} from the "
            f"dataset: {type(exc).__name__}: {first}"
        ) from exc
    finally:
        net.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise ConfigError(
            f"model {name} returns a {type(out).__name__}; its forward must return the logits, "
            "a tensor [N, n_classes]"
        )
    if tuple(out.shape) != (len(sample), n_classes):
        raise ConfigError(
            f"model {name} maps {len(sample)} items of shape {tuple(sample.shape[1:])} to an output of "
            f"shape {tuple(out.shape)}; it must return logits [N, n_classes] = [{len(sample)}, {n_classes}]"
        )


def layer_named(net: nn.Module, name: str) -> nn.Module:
    """The sub-module ``name`` of ``net`` (``model.embedding_layer``), or a ConfigError listing some."""
    layers = dict(net.named_modules())
    if name not in layers or name == "":
        some = ", ".join(n for n in list(layers)[1:13])
        raise ConfigError(
            f"model.embedding_layer={name!r} is not a layer of {type(net).__name__} (layers: {some})"
        )
    return layers[name]


def embedding_source(net: nn.Module) -> str | None:
    """Where the embeddings come from: ``embed()``, ``layer NAME``, or ``None`` when nowhere."""
    layer = getattr(net, LAYER_ATTR, None)
    if layer is not None:
        return f"layer {layer}"
    if callable(getattr(net, "embed", None)):
        return "embed()"
    linear = last_linear(net)
    return None if linear is None else f"layer {linear}"


def last_linear(net: nn.Module) -> str | None:
    """The name of the net's last ``nn.Linear`` in registration order, or ``None``."""
    names = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    return names[-1] if names else None


def require_embedding(net: nn.Module, strategy: str) -> None:
    """Raise :class:`ConfigError` when ``strategy`` cannot get embeddings from ``net``."""
    if embedding_source(net) is None:
        raise ConfigError(
            f"strategy {strategy} needs the model's embeddings, but {type(net).__name__} has no embed() "
            "method and no nn.Linear layer; add `def embed(self, x)` returning [N, D] features, or set "
            "model.embedding_layer=NAME (the layer whose input is the embedding)"
        )


def features_and_logits(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h, logits)`` of a chunk: ``[N, D]`` embeddings and ``[N, C]`` logits, in one pass where possible.

    Raises:
        ConfigError: the embedding layer was not called by ``forward``.
    """
    source = embedding_source(net)
    if source == "embed()":
        h = net.embed(x)  # type: ignore[operator]
        return h, (net.head(h) if isinstance(net, Classifier) else net(x))  # a Classifier is head(embed(x))
    name = str(source)[len("layer ") :]
    captured: list[torch.Tensor] = []
    handle = layer_named(net, name).register_forward_pre_hook(lambda m, inputs: captured.append(inputs[0]))
    try:
        logits = net(x)
    finally:
        handle.remove()
    if not captured:
        raise ConfigError(
            f"the embedding layer {name!r} of {type(net).__name__} is not called by its forward; "
            "set model.embedding_layer to a layer the forward pass uses"
        )
    return captured[-1].flatten(1), logits
