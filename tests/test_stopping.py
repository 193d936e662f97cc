"""Each stopping rule on a scripted sequence of rounds; the owner; a stopped run end to end and resumed."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import cohen_kappa_score

from alrun.active.pool import ActivePool
from alrun.active.stop_rules import LowUncertainty, StablePredictions, TargetAccuracy, WallTime, cohen_kappa
from alrun.active.stopping import RoundView, Stopping
from alrun.data.tensors import TensorData
from alrun.errors import ConfigError
from alrun.run import checkpoint
from alrun.run.records import RESULT_COLUMNS
from alrun.seeding import Streams


def view(round_: int, row=None, last_query=None, elapsed=0.0, strategy=None) -> RoundView:
    return RoundView(round_, row or {}, last_query or {}, elapsed, strategy)  # type: ignore[arg-type]


def test_target_val_acc_stops_at_the_first_round_that_reaches_it():
    rule = TargetAccuracy(target=0.9)
    decisions = [rule.check(view(r, {"val/acc": a})) for r, a in enumerate([0.5, 0.89, 0.9, 0.95])]
    assert decisions[:2] == [None, None] and decisions[2] == "val/acc = 0.9000 >= 0.9"
    with pytest.raises(
        ConfigError, match=r"^stopping=target_val_acc watches val/acc, .*\(set val_size > 0\)$"
    ):
        rule.setup(SimpleNamespace(val_pool=None), "target_val_acc")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="metric='test/acc' is not allowed"):
        TargetAccuracy(metric="test/acc")


def test_low_uncertainty_looks_at_the_last_query():
    rule = LowUncertainty(threshold=0.1)
    queries = [{}, {"query/score_mean": 0.3}, {"query/score_mean": 0.1}, {"query/score_mean": 0.05}]
    decisions = [rule.check(view(r, last_query=q)) for r, q in enumerate(queries)]
    assert (
        decisions[:3] == [None, None, None]
        and decisions[3] == "query/score_mean of the last query = 0.05 < 0.1"
    )
    pool = LowUncertainty(threshold=0.1, over="pool")
    assert pool.check(view(1, last_query={"query/score_mean": 0.0, "query/pool_score_mean": 0.2})) is None


def test_wall_time_adds_the_rounds_times_and_carries_over_a_resume():
    owner = Stopping({"wall_time": WallTime(max_seconds=10)})
    rows = [{"fit_s": 3.0, "eval_s": 0.5, "total_s": 4.0}] * 4
    stops = []
    for r, row in enumerate(rows):
        stops.append(owner.check(None, r, dict(row)))  # type: ignore[arg-type]
        owner.round_finished(row)
        if r == 1:  # resume: a fresh owner from the checkpointed state
            state, owner = owner.state_dict(), Stopping({"wall_time": WallTime(max_seconds=10)})
            owner.load_state_dict(state)
    assert stops[:2] == [None, None] and stops[2] is not None  # 4 + 4 + 3.5 >= 10
    assert (stops[2].by, stops[2].round, stops[2].reason) == ("wall_time", 2, "11.5 s >= max_seconds 10")


def test_cohen_kappa_matches_scikit_learn_and_perfect_agreement_is_one():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randint(0, 4, (50,), generator=gen), torch.randint(0, 4, (50,), generator=gen)
    b[:30] = a[:30]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a.numpy(), b.numpy()), abs=1e-12)
    assert cohen_kappa(torch.full((5,), 2), torch.full((5,), 2)) == 1.0


class ScriptedNet(torch.nn.Module):
    """Predicts, for item i (its only feature), the label scripted for this round."""

    def __init__(self) -> None:
        super().__init__()
        self.labels = torch.zeros(40, dtype=torch.long)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(self.labels[x[:, 0].long()], 4).float()


def scripted_strategy() -> SimpleNamespace:
    data = TensorData(torch.arange(40.0)[:, None], torch.zeros(40, dtype=torch.long), torch.arange(40))
    pool = ActivePool(data)
    pool.label(np.arange(10), 0)  # items 0-9 labelled: the stop set is drawn from the other 30
    return SimpleNamespace(net=ScriptedNet(), train_pool=pool, streams=Streams(0), eval_batch_size=7)


@pytest.mark.parametrize(("average", "stop_round"), [(False, 5), (True, 4)])
def test_stable_predictions_stop_once_the_kappas_of_a_window_are_high(average, stop_round):
    strategy = scripted_strategy()
    rule = StablePredictions(threshold=0.9, window=2, stop_set_size=20, average=average)
    # label changes (of the 20 stop-set items) between successive rounds: 10, 10, 2, 0, 0
    changes = [None, 10, 10, 2, 0, 0]
    kappas, stopped = [], None
    for r, n in enumerate(changes):
        if n:
            stop_set = rule.stop_set if rule.stop_set is not None else torch.arange(10, 30)
            strategy.net.labels[stop_set[:n]] = (strategy.net.labels[stop_set[:n]] + 1) % 4
        reason = rule.check(view(r, strategy=strategy))
        kappas.append(rule.values()["stop/kappa"])
        if reason and stopped is None:
            stopped = r
    assert len(rule.stop_set) == 20 and rule.stop_set.min() >= 10  # unlabelled items only, seeded
    # round 3: labels 0 / 2 (10 / 10) against 0 / 2 / 3 (10 / 8 / 2): (0.9 - 0.45) / (1 - 0.45)
    assert math.isnan(kappas[0]) and kappas[3] == pytest.approx(0.45 / 0.55) and kappas[4] == kappas[5] == 1.0
    assert stopped == stop_round  # each of the last 2 >= 0.9 at round 5; their mean (k3 + 1) / 2 at round 4


def test_the_owner_checks_every_rule_and_the_first_in_config_order_names_the_stop():
    owner = Stopping({"low": LowUncertainty(threshold=1.0), "target": TargetAccuracy(target=0.5)})
    assert owner.check(None, 0, {"val/acc": 0.6}).by == "target"  # type: ignore[union-attr,arg-type]
    owner.round_finished({"query/score_mean": 0.5, "total_s": 1.0})
    assert owner.check(None, 1, {"val/acc": 0.6}).by == "low"  # type: ignore[union-attr,arg-type]


STOP = ["stopping=[low_uncertainty]", "stopping.low_uncertainty.threshold=100"]  # any entropy is below


def test_a_run_stopped_early_is_finished_with_its_reason_and_round(run_cfg, tmp_path):
    rows = run_cfg(*STOP)
    assert [r["n_labelled"] for r in rows] == [10, 14]  # round 1 trained on the first query, then stopped
    folder = tmp_path / "run"
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "finished" and info["stopped"]["by"] == "low_uncertainty"
    assert info["stopped"]["round"] == 1 and "< 100" in info["stopped"]["reason"]
    assert set(pd.read_csv(folder / "queries.csv")["round"]) == {0, 1}  # the initial set and one query
    assert checkpoint.load(folder).finished


def test_a_stopped_run_resumes_bit_identically(run_cfg, make_cfg, tmp_path):
    from alrun.active.loop import run_loop
    from alrun.run.experiment import build, prepare_state

    args = ["strategy=margin", "stopping=[stable_predictions]", "stopping.stable_predictions.threshold=-1"]
    args += ["stopping.stable_predictions.window=2"]
    ref = run_cfg(*args, folder="ref")
    assert len(ref) == 3  # kappas at rounds 1 and 2: stops after round 2

    class Interrupt:
        def __getattr__(self, name):
            return lambda *a: None

        def round_finished(self, row, info):
            if row["round"] == 1:
                raise KeyboardInterrupt

    cfg, folder = make_cfg(*args), tmp_path / "cut"
    exp = build(cfg, folder)
    with pytest.raises(KeyboardInterrupt):
        run_loop(
            exp.strategy, exp.make_trainer, exp.plan, [*exp.observers, Interrupt()], stopping=exp.stopping
        )
    state = prepare_state(cfg, folder)
    assert state.rounds_done == 2 and not state.finished
    exp = build(cfg, folder, state)
    run_loop(exp.strategy, exp.make_trainer, exp.plan, exp.observers, state.rounds_done, exp.stopping)
    resumed = pd.read_csv(folder / "metrics.csv").to_dict("records")
    keep = [c for c in RESULT_COLUMNS if c in resumed[0]]
    assert pd.DataFrame(resumed)[keep].equals(pd.DataFrame(ref)[keep])
    assert json.loads((folder / "run.json").read_text())["stopped"]["round"] == 2
