"""The installed ``alrun`` command, run in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from alrun.cli import config_dir

ALRUN = shutil.which("alrun", path=str(Path(sys.executable).parent)) or "alrun"


def alrun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ALRUN, *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def test_smoke_run_leaves_csvs_and_run_json(tmp_path):
    out = alrun("experiment=smoke", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert list(metrics["n_labelled"]) == [10, 14, 18, 20]
    assert list(pd.read_csv(tmp_path / "run" / "queries.csv").columns) == [
        "round",
        "pool",
        "pool_index",
        "dataset_index",
        "score",
        "rank",
    ]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "finished"
    assert "test/acc" in out.stdout  # the per-round table
    assert "Traceback" not in out.stderr


def test_python_dash_m_works(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "alrun", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0 and "strategy: " in out.stdout


def test_help_lists_groups_and_options(tmp_path):
    out = alrun("--help", cwd=tmp_path)
    assert out.returncode == 0
    for text in (
        "dataset: breast_cancer, csv, digits, fashion_mnist, iris, mnist, npz, python, synthetic, wine\n",
        "model: batchbald_cnn, cnn, ensemble, logreg, mlp, resnet\n",
        "trainer: auto, cpu, ddp, ddp_cpu, gpu\n",
    ):
        assert text in out.stdout
    strategies = sorted(p.stem for p in (Path(config_dir()) / "strategy").glob("*.yaml"))
    assert f"strategy: {', '.join(strategies)}\n" in out.stdout
    assert {
        "entropy",
        "least_confidence",
        "margin",
        "random",
        "coreset",
        "badge",
        "bald",
        "power_bald",
    } <= set(strategies)


# bad input of every kind: tests/test_refusals.py


def test_a_setting_the_fast_path_cannot_serve_is_refused_up_front(tmp_path):
    """Gradient clipping is part of Lightning's optimizer step: fit_mode=fast refuses it before anything
    is written; fit_mode=auto takes Lightning's loop and says so."""
    out = alrun("experiment=smoke", "+trainer.gradient_clip_val=1.0", "fit_mode=fast", cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "alrun: error: fit_mode=fast cannot serve trainer.gradient_clip_val"
    )
    assert lines[0].endswith("use fit_mode=lightning (or auto)")
    assert not list(tmp_path.rglob("run.json"))
    ok = alrun(
        "experiment=smoke", "+trainer.gradient_clip_val=1.0", f"hydra.run.dir={tmp_path / 'ok'}", cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    assert "fit path: lightning (trainer.gradient_clip_val needs Lightning's per-step loop" in ok.stdout
    assert json.loads((tmp_path / "ok" / "run.json").read_text())["fit_path"] == "lightning"


def test_budget_larger_than_pool_is_refused(tmp_path):
    out = alrun("initial_size=1000", "budget=1000", cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "initial_size + budget = 2000" in lines[0] and "<= 1347" in lines[0]


def test_plain_help_is_answered_from_its_cache_until_the_configs_change(tmp_path, monkeypatch):
    from alrun import help_cache

    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    first = subprocess.run([ALRUN, "--help"], capture_output=True, text=True, cwd=tmp_path, env=env)
    cached = list((tmp_path / "cache" / "alrun").glob("help-*.txt"))
    assert first.returncode == 0 and len(cached) == 1 and cached[0].read_text() + "\n" == first.stdout
    again = subprocess.run([ALRUN, "-h"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert again.stdout == first.stdout  # the same text, from the cache
    assert help_cache.cache_file(["--help", "strategy=bald"]) is None  # overrides: composed anew
    # another config folder (a changed option) is another key
    configs = tmp_path / "configs"
    shutil.copytree(config_dir(), configs)
    monkeypatch.setattr(help_cache, "config_dir", lambda: str(configs))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = help_cache.cache_file(["--help"])
    (configs / "strategy" / "mine.yaml").write_text("_target_: alrun.strategies.Margin\n")
    assert before is not None and help_cache.cache_file(["--help"]) not in (None, before)
    assert help_cache.cached_help(["--help"]) is None
