"""The dropout-free prefix of a net runs once for T MC-dropout passes, with bit-identical samples."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from alrun.data.tensors import TensorData
from alrun.models.batchbald import BatchBALDCNN
from alrun.models.nets import CNN, MLP, Classifier
from alrun.strategies import fixed_prefix
from alrun.strategies.base import QueryContext
from alrun.strategies.fixed_prefix import split_fixed
from alrun.strategies.mc import mc_log_probs
from alrun.training.inference import evaluate_mc


def make_ctx(net: nn.Module, x: torch.Tensor, chunk: int) -> QueryContext:
    gen = torch.Generator().manual_seed(0)
    return QueryContext(x=x, net=net.eval(), chunk_size=chunk, tiebreak=gen, acquisition=gen, mc_seed=5)


def nets() -> dict[str, nn.Module]:
    torch.manual_seed(0)  # only these toy nets; alrun itself never seeds the global RNG
    return {
        "cnn": CNN((1, 12, 12), 3, channels=4, hidden=8),
        "batchbald_cnn": BatchBALDCNN((1, 16, 16), 3, channels=(4, 6), hidden=8),
        "mlp": MLP((1, 12, 12), 3, hidden=(16, 16), dropout=0.5),
        "sequential": nn.Sequential(
            nn.Flatten(), nn.Linear(144, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3)
        ),
    }


def count_calls(module: nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def whole_net_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixed_prefix, "CACHE_BYTES", 0)  # no room to keep the prefix: T whole passes


@pytest.mark.parametrize("name", ["cnn", "batchbald_cnn", "mlp", "sequential"])
@pytest.mark.parametrize("consistent", [False, True])
def test_mc_samples_with_the_prefix_run_once_equal_t_whole_passes(name, consistent, monkeypatch):
    net = nets()[name]
    side = 16 if name == "batchbald_cnn" else 12
    x = torch.randn(23, 1, side, side, generator=torch.Generator().manual_seed(1))
    first = next(iter(net.modules() if isinstance(net, nn.Sequential) else net.body.modules()))
    calls = count_calls(next(m for m in first.modules() if isinstance(m, (nn.Conv2d, nn.Flatten))))
    fast = mc_log_probs(make_ctx(net, x, chunk=7), 6, consistent)
    assert calls[0] == 4  # the first layer ran once per chunk (23 items in chunks of 7), not 6 x 4 times
    whole_net_only(monkeypatch)
    slow = mc_log_probs(make_ctx(net, x, chunk=7), 6, consistent)
    assert calls[0] == 4 + 1 + 6 * 4  # one chunk's prefix, found too big to keep, then T whole passes
    assert torch.equal(fast, slow)  # the same arithmetic on the same values: equal to the bit
    assert not torch.equal(fast[0], fast[1])  # and still T different samples


def test_mc_evaluation_with_the_prefix_run_once_equals_t_whole_passes(monkeypatch):
    net = nets()["cnn"].eval()
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(30, 1, 12, 12, generator=gen), torch.randint(0, 3, (30,), generator=gen)
    data = TensorData(x, y, torch.arange(30))
    fast = evaluate_mc(net, data, 8, samples=5, seed=3)
    whole_net_only(monkeypatch)
    assert fast == evaluate_mc(net, data, 8, samples=5, seed=3)


def test_the_prefix_ends_at_the_first_dropout_layer():
    split = split_fixed(nets()["cnn"].eval())
    assert split is not None
    prefix = split[0]
    assert [type(m) for m in prefix] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.MaxPool2d]
    assert [type(m) for m in split_fixed(nets()["batchbald_cnn"].eval())[0]] == [nn.Conv2d]


class Noisy(nn.Module):
    """A user layer that is random even in eval mode: it must never be run once for all passes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.randn_like(x)


class OwnForward(Classifier):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)) * 2


def test_nets_of_other_shapes_and_layers_of_unknown_kinds_run_whole():
    assert split_fixed(nn.Sequential(Noisy(), nn.Linear(4, 4), nn.Dropout(0.5)).eval()) is None
    assert split_fixed(nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 4)).eval()) is None  # dropout first
    assert split_fixed(OwnForward().eval()) is None  # its forward is not head(body(x))
    assert split_fixed(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))) is None  # training
    hooked = nets()["cnn"].eval()
    hooked.register_forward_hook(lambda *_: None)  # a hook that counts the net's calls must see all T
    assert split_fixed(hooked) is None
    kept = split_fixed(nn.Sequential(nn.Linear(4, 4), Noisy(), nn.Dropout(0.5)).eval())
    assert kept is not None and [type(m) for m in kept[0]] == [nn.Linear]  # stops before the user layer
