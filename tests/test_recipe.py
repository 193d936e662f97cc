"""Training-recipe settings: fixed-length epochs drawn with replacement, and 1/N weight decay on
named parameters (Gal et al. 2017's 7/N on the first dense layer; BatchBALD's 5,056-sample epochs)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from alrun.data.tensors import ShuffledBatches, TensorData
from alrun.strategies.mc import dropout_layers, independent_masks
from alrun.training.decay import param_groups, parse_groups
from alrun.training.inference import evaluate, evaluate_mc


def batches(epoch_samples: int | None, seed: int = 0) -> ShuffledBatches:
    gen = torch.Generator().manual_seed(seed)
    return ShuffledBatches(torch.arange(10.0)[:, None], torch.arange(10), 4, gen, epoch_samples)


def test_fixed_length_epochs_draw_with_replacement_and_are_seeded():
    fixed = batches(64)
    assert len(fixed) == 16  # 64 items in batches of 4, whatever the number of labels
    draws = [fixed.draw() for _ in range(3)]
    assert all(len(d) == 64 and len(set(d.tolist())) <= 10 for d in draws)  # 64 draws of 10 items: repeats
    assert not torch.equal(draws[0], draws[1])  # a fresh draw every epoch
    again = batches(64)
    assert all(torch.equal(d, again.draw()) for d in draws)  # the same stream, the same draws
    assert not torch.equal(batches(64, seed=1).draw(), draws[0])
    xs, ys = batches(64).epoch()
    assert torch.equal(xs[:, 0].long(), ys) and torch.equal(ys, draws[0])


def test_ordinary_epochs_are_permutations():
    plain = batches(None)
    assert len(plain) == 3 and sorted(plain.draw().tolist()) == list(range(10))


def test_a_run_with_fixed_length_epochs_takes_the_same_steps_every_round(run_cfg):
    rows = run_cfg("epoch_samples=100", "batch_size=32")  # 4 steps per epoch, 2 epochs, any n_labelled
    assert [r["n_labelled"] for r in rows] == [10, 14, 18, 20] and {r["train/steps"] for r in rows} == {8}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3))
        self.head = nn.Linear(3, 2)


def test_per_label_weight_decay_changes_with_n_and_hits_only_the_named_parameters():
    groups = parse_groups([{"params": ["body.0.weight"], "weight_decay": 7.0, "per_label": True}])
    net = Net()
    for n in (20, 70):
        rest, decayed = param_groups(net, groups, n)
        assert decayed["weight_decay"] == pytest.approx(7.0 / n)
        assert [p is net.body[0].weight for p in decayed["params"]] == [True]
        assert "weight_decay" not in rest and len(rest["params"]) == 5  # everything else: the optimizer's own
    constant = parse_groups([{"params": "head.*", "weight_decay": 0.01}])
    _, head = param_groups(net, constant, 20)
    assert head["weight_decay"] == 0.01 and len(head["params"]) == 2


def test_each_fit_gets_the_decay_of_its_own_number_of_labels(run_cfg, monkeypatch):
    import alrun.training.fitting as fitting

    seen: list[list[float]] = []
    build = fitting.Fitting.configure_optimizers

    def spy(self, net, n_labels, trainer):  # type: ignore[no-untyped-def]
        opt = build(self, net, n_labels, trainer)
        seen.append([g["weight_decay"] for g in opt.param_groups])
        return opt

    monkeypatch.setattr(fitting.Fitting, "configure_optimizers", spy)
    run_cfg("weight_decay_groups=[{params:[body.1.weight],weight_decay:7.0,per_label:true}]")
    assert seen == [[0.0, pytest.approx(7.0 / n)] for n in (10, 14, 18, 20)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([{"params": ["body.9.weight"], "weight_decay": 1.0}], "'body.9.weight' matches no parameter"),
        ([{"params": ["body.*"], "weight_decay": 1.0}, {"params": ["body.0.bias"], "weight_decay": 1.0}],
         "'body.0.bias' is in groups 0 and 1"),
    ],
)  # fmt: skip
def test_bad_decay_groups_are_refused_in_one_line(spec, message):
    from alrun.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        param_groups(Net(), parse_groups(spec), 10)


class Dropped(nn.Module):
    """Logits 3 * x[:, :2] through a dropout layer: deterministic with dropout off."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.drop = nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 3 * self.drop(x[:, :2])


def split() -> TensorData:
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    return TensorData(x, (x[:, 1] > x[:, 0]).long(), torch.arange(50))


def test_mc_averaged_evaluation_differs_from_the_deterministic_one_only_with_dropout_on():
    data = split()
    for p in (0.0, 0.5):
        net = Dropped(p).eval()
        plain, mc = evaluate(net, data, 16), evaluate_mc(net, data, 16, samples=8, seed=3)
        assert evaluate_mc(net, data, 16, samples=0, seed=3) == plain | {"mc_samples": 0}
        assert not net.drop.training  # back in eval mode
        if p == 0.0:
            assert mc == pytest.approx(plain | {"mc_samples": 8}, rel=1e-6)
        else:
            assert mc["loss"] != pytest.approx(plain["loss"], rel=1e-3)
            assert mc == evaluate_mc(net, data, 16, samples=8, seed=3)  # seeded: the same masks again
            assert mc != evaluate_mc(net, data, 16, samples=8, seed=4)


def test_mc_averaged_evaluation_scores_the_mean_of_the_passes():
    data, net = split(), Dropped(0.5).eval()
    probs = []
    for t in range(4):
        with independent_masks(dropout_layers(net), 3, t, data.x.device), torch.no_grad():
            probs.append(torch.cat([net(data.x[i : i + 16]).double().softmax(-1) for i in range(0, 50, 16)]))
    mean = torch.stack(probs).mean(0)
    expected = nn.functional.nll_loss(mean.log(), data.y).item()
    assert evaluate_mc(net, data, 16, samples=4, seed=3)["loss"] == pytest.approx(expected, rel=1e-12)


def test_a_run_records_its_mc_test_samples(run_cfg):
    plain, mc = run_cfg("model.dropout=0.5"), run_cfg("model.dropout=0.5", "eval_mc_samples=5", folder="mc")
    assert {r["test/mc_samples"] for r in plain} == {0} and {r["test/mc_samples"] for r in mc} == {5}
    assert [r["train/loss"] for r in plain] == [r["train/loss"] for r in mc]  # the same fits
    assert [r["test/loss"] for r in plain] != [r["test/loss"] for r in mc]


def test_mc_test_evaluation_needs_dropout(make_cfg, tmp_path):
    from alrun.errors import ConfigError
    from alrun.run.experiment import build

    with pytest.raises(ConfigError, match=r"eval_mc_samples=5 needs a model with dropout"):
        build(make_cfg("model.dropout=0", "eval_mc_samples=5"), tmp_path / "run")
