"""Any nn.Module is a model: dataset sizes only where taken, its output checked, embeddings found."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from alrun.errors import ConfigError
from alrun.models.adapt import (
    embedding_source,
    features_and_logits,
    model_factory,
    require_embedding,
)
from alrun.models.nets import MLP
from alrun.seeding import Streams
from alrun.strategies import Badge, Bald, Coreset, QueryContext
from alrun.strategies import embeddings as emb

SAMPLE = torch.randn(2, 4, generator=torch.Generator().manual_seed(0))


class Plain(nn.Module):
    """No input_shape / n_classes, no embed(): the input of `out` is its embedding."""

    def __init__(self, hidden: int = 5) -> None:
        super().__init__()
        self.inner = nn.Linear(4, hidden)
        self.out = nn.Linear(hidden, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.inner(x)))


class NoLinear(nn.Module):
    """Logits from a convolution: no nn.Linear, no embed()."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x[:, None]).flatten(1)


class Sized(nn.Module):
    """Takes the dataset's sizes, has an embed() and a dropout layer; forward is not head(embed(x))."""

    def __init__(self, input_shape: tuple[int, ...], n_classes: int) -> None:
        super().__init__()
        self.seen = (input_shape, n_classes)
        self.body = nn.Sequential(nn.Linear(input_shape[0], 6), nn.Dropout(0.5))
        self.head = nn.Linear(6, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def factory(target: str, classes: int = 3, /, **settings: object):
    """The factory of the model config ``{_target_: <this module>.<target>, **settings}`` for items
    of shape (4,) in ``classes`` classes."""
    node = OmegaConf.create({"_target_": f"{__name__}.{target}", **settings})
    return model_factory(node, (4,), classes, SAMPLE)


def test_sizes_are_passed_only_to_constructors_that_take_them():
    plain = factory("Plain", hidden=7)()
    assert isinstance(plain, Plain) and plain.inner.out_features == 7
    sized = factory("Sized")()
    assert sized.seen == ((4,), 3)
    assert factory("Sized", n_classes=3, input_shape=[4])().seen == ((4,), 3)  # the same values: fine


@pytest.mark.parametrize(
    ("target", "n_classes", "settings", "needle"),
    [
        ("Sized", 3, {"n_classes": 5}, "model.n_classes=5 does not match the dataset (n_classes=3)"),
        ("Plain", 10, {}, "it must return logits [N, n_classes] = [2, 10]"),
        ("Plain", 3, {"widht": 2}, "unexpected keyword argument 'widht'"),
    ],
)
def test_a_model_that_does_not_fit_the_dataset_is_one_line(target, n_classes, settings, needle):
    with pytest.raises(ConfigError) as err:
        factory(target, n_classes, **settings)()
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_forward_that_returns_no_tensor_is_refused():
    with pytest.raises(ConfigError, match="returns a tuple; its forward must return the logits"):
        factory("Plain", _target_="torch.nn.LSTM", input_size=4, hidden_size=3, batch_first=True)()


def test_each_net_is_new_and_the_output_check_draws_no_random_numbers():
    make = factory("Sized")
    torch.manual_seed(3)
    a = make()
    state = torch.get_rng_state()
    torch.manual_seed(3)
    b = make()
    assert torch.equal(torch.get_rng_state(), state)  # the check ran dropout in eval mode: no draws
    assert a is not b and all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert a.training  # left in the mode it was built in


def test_embeddings_come_from_embed_then_the_last_linear_then_the_named_layer():
    plain, sized = factory("Plain")(), factory("Sized")().eval()
    assert embedding_source(sized) == "embed()" and embedding_source(plain) == "layer out"
    h, logits = features_and_logits(plain, SAMPLE)
    assert torch.equal(h, torch.relu(plain.inner(SAMPLE))) and torch.equal(logits, plain(SAMPLE))
    h, logits = features_and_logits(sized, SAMPLE)  # not a Classifier: logits from forward itself
    assert torch.equal(h, sized.embed(SAMPLE)) and torch.equal(logits, sized(SAMPLE))
    chosen = factory("Plain", embedding_layer="inner")()
    assert embedding_source(chosen) == "layer inner"
    assert torch.equal(features_and_logits(chosen, SAMPLE)[0], SAMPLE)
    with pytest.raises(
        ConfigError, match=r"model.embedding_layer='nope' is not a layer of Plain \(layers: inner"
    ):
        factory("Plain", embedding_layer="nope")()


def test_the_hook_gives_alruns_own_embeddings_for_its_nets():
    net = MLP((4,), 3).eval()
    hooked = MLP((4,), 3).eval()
    hooked.load_state_dict(net.state_dict())
    hooked.embed = None  # type: ignore[assignment]  # no embed(): the input of the last nn.Linear
    h, logits = features_and_logits(hooked, SAMPLE)
    assert torch.equal(h, net.embed(SAMPLE)) and torch.equal(logits, net(SAMPLE))


@pytest.mark.parametrize("strategy", [Coreset, Badge])
def test_embedding_strategies_refuse_a_net_without_embeddings_up_front(strategy):
    with pytest.raises(ConfigError) as err:
        strategy().check(NoLinear())
    name = strategy().name
    assert str(err.value) == (
        f"strategy {name} needs the model's embeddings, but NoLinear has no embed() method and no "
        "nn.Linear layer; add `def embed(self, x)` returning [N, D] features, or set "
        "model.embedding_layer=NAME (the layer whose input is the embedding)"
    )
    require_embedding(Plain(), name)  # a linear layer is enough


def test_embedding_and_mc_strategies_query_a_plain_module():
    streams = Streams(0)
    net = factory("Sized")().eval()
    x = torch.randn(12, 4, generator=torch.Generator().manual_seed(1))
    ctx = QueryContext(
        x=x,
        net=net,
        chunk_size=5,
        tiebreak=streams.torch("tiebreak", 0),
        acquisition=streams.torch("acquisition", 0),
        labelled_x=x[:2],
        mc_seed=streams.entropy("mc_dropout", 0),
    )
    with torch.no_grad():  # the features are embed() in chunks of 5 (one GEMM of 12 rows may round otherwise)
        chunked = torch.cat([net.embed(x[i : i + 5]) for i in range(0, 12, 5)])
    assert torch.equal(emb.features(ctx), chunked)
    for strategy in (Coreset(), Badge(), Bald(mc_samples=4)):
        strategy.check(net)
        picked = strategy.select(ctx, 3).index
        assert len(set(picked.tolist())) == 3
    assert not any(m.training for m in net.modules())  # MC dropout left the net in eval mode
