"""Ensembles: the batched members compute what M separate members compute, train as they would, differ
and are seeded; the MC scores work over members."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alrun.data.tensors import TensorData
from alrun.models.batched import GroupedBatchNorm, GroupedConv, GroupedLinear, VmapMembers, batch_members
from alrun.models.ensemble import Ensemble
from alrun.models.nets import CNN, MLP
from alrun.strategies import scores
from alrun.strategies.base import QueryContext
from alrun.strategies.samples import member_log_probs


class Gated(nn.Module):
    """A module with its own forward (not convertible layer by layer): the vmap path."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(6, 5), nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) * torch.sigmoid(self.b(x))


def members(make, m: int = 3) -> list[nn.Module]:
    torch.manual_seed(0)  # only these toy members
    return [make() for _ in range(m)]


CASES = {
    "mlp": (lambda: MLP((6,), 4, hidden=(8, 8), dropout=0.3), (6,)),
    "cnn": (lambda: CNN((1, 8, 8), 3, channels=4, hidden=8).body, (1, 8, 8)),  # grouped conv, pool, dropout
    "classifier": (lambda: CNN((1, 8, 8), 3, channels=4, hidden=8), (1, 8, 8)),  # its own forward: vmap
    "batchnorm": (
        lambda: nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1),
            nn.BatchNorm2d(3),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(48, 4),
            nn.BatchNorm1d(4),
        ),
        (2, 4, 4),
    ),
    "vmap": (Gated, (6,)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("train", [False, True])
def test_batched_members_equal_separate_members(case, train):
    make, shape = CASES[case]
    nets = members(make)
    batched = batch_members(nets).train(train)
    for n in nets:
        n.train(train)
    x = torch.randn(10, *shape, generator=torch.Generator().manual_seed(1))
    if train and case in ("mlp", "cnn", "classifier"):  # dropout: compare the deterministic parts only
        batched.eval()
        for n in nets:
            n.eval()
    got = batched(x.expand(len(nets), *x.shape))
    expected = torch.stack([n(x) for n in nets])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    if case == "batchnorm" and train:  # running statistics updated as each member's own
        bn = batched[1]
        assert isinstance(bn, GroupedBatchNorm)
        torch.testing.assert_close(bn.running_mean, torch.cat([n[1].running_mean for n in nets]))
        torch.testing.assert_close(bn.running_var, torch.cat([n[1].running_var for n in nets]))


def test_conversion_picks_grouped_layers_and_falls_back_to_vmap():
    cnn = batch_members(members(lambda: CNN((1, 8, 8), 3, channels=4, hidden=8).body))
    kinds = {type(m) for m in cnn.modules()}
    assert {GroupedConv, GroupedLinear} <= kinds and VmapMembers not in kinds
    assert isinstance(batch_members(members(Gated)), VmapMembers)


def make_ensemble(m: int = 3, seed: int = 0, **kw) -> Ensemble:
    torch.manual_seed(seed)  # what the run's weights scope does
    member = functools.partial(MLP, hidden=(16,), dropout=0.0)
    return Ensemble((6,), 4, member, members=m, **kw)


def test_members_differ_are_seeded_and_do_not_depend_on_m():
    x = torch.randn(9, 6, generator=torch.Generator().manual_seed(2))
    a, b, other = make_ensemble(), make_ensemble(), make_ensemble(seed=1)
    la = a.member_logits(x)
    assert la.shape == (3, 9, 4) and not torch.allclose(la[0], la[1]) and not torch.allclose(la[1], la[2])
    assert torch.equal(la, b.member_logits(x)) and not torch.allclose(la, other.member_logits(x))
    torch.testing.assert_close(make_ensemble(m=2).member_logits(x), la[:2])
    mean = torch.logsumexp(la.log_softmax(-1), 0) - torch.log(torch.tensor(3.0))
    torch.testing.assert_close(a(x), mean)
    torch.testing.assert_close(a.head(a.embed(x)), a(x))


def test_one_optimizer_step_of_the_ensemble_equals_separate_steps():
    ens = make_ensemble()
    nets = [MLP((6,), 4, hidden=(16,)) for _ in range(3)]
    for m, net in enumerate(nets):  # the same weights as member m
        net.body[1].weight.data.copy_(ens.body[1].weight[m])
        net.body[1].bias.data.copy_(ens.body[1].bias[m])
        net.head.weight.data.copy_(ens.head.heads.weight[m])
        net.head.bias.data.copy_(ens.head.heads.bias[m])
    x = torch.randn(12, 6, generator=torch.Generator().manual_seed(3))
    y = torch.randint(0, 4, (12,), generator=torch.Generator().manual_seed(4))
    opt = torch.optim.Adam(ens.parameters(), lr=0.01)
    ens.training_loss(x, y).backward()
    opt.step()
    for m, net in enumerate(nets):
        single = torch.optim.Adam(net.parameters(), lr=0.01)
        F.cross_entropy(net(x), y).backward()
        single.step()
        torch.testing.assert_close(ens.head.heads.weight[m], net.head.weight, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ens.body[1].weight[m], net.body[1].weight, rtol=1e-5, atol=1e-6)


def test_bootstrap_counts_weight_each_members_loss():
    ens = make_ensemble(bootstrap=True)
    data = TensorData(torch.randn(20, 6), torch.randint(0, 4, (20,)), torch.arange(20))
    out = ens.training_data(data, torch.Generator().manual_seed(0))
    assert out.y.shape == (20, 4) and torch.equal(out.y[:, 0], data.y)
    assert (out.y[:, 1:].sum(0) == 20).all() and not torch.equal(out.y[:, 1], out.y[:, 2])
    assert torch.equal(out.y, ens.training_data(data, torch.Generator().manual_seed(0)).y)
    logits = ens.member_logits(data.x)
    ce = torch.stack([F.cross_entropy(logits[m], data.y, reduction="none") for m in range(3)])
    expected = (ce * out.y[:, 1:].T).mean(1).sum()
    torch.testing.assert_close(ens.training_loss(data.x, out.y), expected)
    assert make_ensemble().training_data(data, torch.Generator()) is data  # no bootstrap: as it is


def test_mc_scores_run_over_the_members():
    ens = make_ensemble().eval()
    x = torch.randn(15, 6, generator=torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(0)
    ctx = QueryContext(x=x, net=ens, chunk_size=4, tiebreak=gen, acquisition=gen)  # type: ignore[arg-type]
    lp = member_log_probs(ctx)
    with torch.no_grad():
        expected = ens.member_logits(x).double().log_softmax(-1)
    torch.testing.assert_close(lp, expected, rtol=1e-6, atol=1e-6)
    assert scores.bald(lp).shape == (15,) and (scores.bald(lp) > 0).all()


ENSEMBLE = ["model=ensemble", "model.members=3"]


def test_an_ensemble_run_is_bit_identical_twice(run_cfg, tmp_path):
    import pandas as pd

    from alrun.run.records import RESULT_COLUMNS

    args = [*ENSEMBLE, "model.bootstrap=true", "strategy=bald"]  # source=auto: the members
    a, b = run_cfg(*args, folder="a"), run_cfg(*args, folder="b")
    keep = [c for c in RESULT_COLUMNS if c in a[0]]
    assert pd.DataFrame(a)[keep].equals(pd.DataFrame(b)[keep]) and [r["n_labelled"] for r in a] == [
        10,
        14,
        18,
        20,
    ]
    assert (tmp_path / "a" / "queries.csv").read_bytes() == (tmp_path / "b" / "queries.csv").read_bytes()


@pytest.mark.parametrize(
    "args",
    [
        ["strategy=vote_entropy"],
        ["strategy=epig", "strategy.source=members", "strategy.n_targets=20"],
        ["strategy=batchbald", "strategy.source=members"],
        ["strategy=power_bald", "strategy.base.source=members"],
        ["strategy=dfal"],
    ],
)
def test_strategies_score_over_the_members(run_cfg, args):
    rows = run_cfg(*ENSEMBLE, *args)
    assert [r["n_labelled"] for r in rows] == [10, 14, 18, 20] and rows[0]["query/n_scored"] == 1337


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [*ENSEMBLE, "strategy=bald", "strategy.source=dropout"],
            "MC dropout over an ensemble is not supported; set strategy.source=members",
        ),
        (["strategy=bald", "strategy.source=members"], "strategy.source=members needs an ensemble"),
        (["strategy=bald", "strategy.source=member"], "strategy.source='member' is not allowed"),
        (["model=ensemble", "model.members=1"], "model.members=1 is out of range"),
    ],
)
def test_a_source_the_model_cannot_give_is_refused_before_training(make_cfg, args, message):
    from hydra.utils import instantiate

    from alrun.errors import ConfigError
    from alrun.run.experiment import build_strategy
    from alrun.seeding import Streams

    cfg = make_cfg(*args)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_strategy(cfg, instantiate(cfg.dataset), Streams(0))
