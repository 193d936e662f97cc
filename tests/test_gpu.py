"""`trainer=gpu` on a CUDA machine (skipped where there is none)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU"),
]

MODEL_COLUMNS = ["round", "n_labelled", "test/acc", "test/loss", "train/loss"]


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
def test_gpu_run_trains_on_the_gpu_and_fit_paths_agree(run_cfg, tmp_path, precision):
    rows = {}
    for mode in ("fast", "lightning"):
        rows[mode] = run_cfg("trainer=gpu", f"trainer.precision={precision}", f"fit_mode={mode}", folder=mode)
        info = json.loads((tmp_path / mode / "run.json").read_text())
        assert info["device"].startswith("cuda") and info["status"] == "finished"
    frames = {m: pd.DataFrame(r)[MODEL_COLUMNS] for m, r in rows.items()}
    assert all(0 <= a <= 1 for a in frames["fast"]["test/acc"])
    # CUDA kernels are not bit-reproducible across launch shapes; the two paths must agree closely
    pd.testing.assert_frame_equal(frames["fast"], frames["lightning"], rtol=1e-3, atol=1e-3)


def test_gpu_mc_dropout_and_scoring_run(run_cfg):
    rows = run_cfg("trainer=gpu", "strategy=bald", "model.dropout=0.3")
    assert all(r["query/n_scored"] > 0 for r in rows[:-1])
