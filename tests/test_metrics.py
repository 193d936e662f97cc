"""Balanced accuracy, macro-F1 and ECE against scikit-learn (ECE: its formula in NumPy), chunked."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from alrun.data.tensors import TensorData
from alrun.run.records import METRIC_COLUMNS
from alrun.training.inference import METRICS, evaluate


def numpy_ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: bins [k/bins, (k+1)/bins) of the confidence (1.0 in the last),
    sum_b n_b/N |acc_b - conf_b|."""
    conf, pred = probs.max(1), probs.argmax(1)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs((pred[inside] == y[inside]).mean() - conf[inside].mean())
    return total


def split(seed: int, n: int = 200, c: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c - 1, (n,), generator=gen)  # class c-1 never occurs as a label
    logits = torch.randn(n, c, generator=gen) * 2
    logits[torch.arange(n), y] += 1.5  # better than chance
    logits[:7, c - 1] += 10  # ... but class c-1 is predicted a few times
    return logits, y


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("chunk", [4096, 7])
def test_metrics_match_scikit_learn(chunk):
    logits, y = split(0)
    got = evaluate(lambda x: x, TensorData(logits, y, torch.arange(len(y))), chunk)
    pred = logits.argmax(1).numpy()
    assert set(got) == set(METRICS)
    assert got["acc"] == pytest.approx(accuracy_score(y, pred), abs=1e-6)  # float32 per chunk
    assert got["balanced_acc"] == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-12)
    assert got["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"), abs=1e-12)
    assert got["ece"] == pytest.approx(numpy_ece(logits.softmax(1).double().numpy(), y.numpy()), abs=1e-6)
    assert 0 < got["balanced_acc"] < 1 and got["balanced_acc"] != pytest.approx(got["acc"])


def test_an_empty_split_gives_blank_metrics_and_the_columns_are_fixed():
    got = evaluate(
        lambda x: x, TensorData(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), torch.arange(0)), 8
    )
    assert all(math.isnan(v) for v in got.values())
    for split_name in ("test", "val"):
        assert {f"{split_name}/{m}" for m in METRICS} <= set(METRIC_COLUMNS)


def test_a_run_writes_every_metric_for_test_and_validation(run_cfg):
    rows = run_cfg("val_size=20")
    for row in rows:
        for name in METRICS:
            assert math.isfinite(row[f"test/{name}"]) and math.isfinite(row[f"val/{name}"])
        assert 0 <= row["test/ece"] <= 1 and 0 <= row["val/balanced_acc"] <= 1
