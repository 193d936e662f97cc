"""Several ranks, one experiment (trainer=ddp_cpu: 2 CPU processes over gloo)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from ddp_worker import score

from alrun.data.tensors import ShuffledBatches
from alrun.errors import ConfigError
from alrun.training.preflight import check_fit

ALRUN = shutil.which("alrun", path=str(Path(sys.executable).parent)) or "alrun"
WORKER = Path(__file__).parent / "ddp_worker.py"

TIMEOUT = 600  # seconds: two processes on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("labels", [10, 11, 7])
def test_each_rank_takes_its_share_of_every_mini_batch(labels):
    x, y = torch.arange(labels).float()[:, None], torch.arange(labels)
    whole = [b[1].tolist() for b in ShuffledBatches(x, y, 4, torch.Generator().manual_seed(0))]
    shards = [
        [b[1].tolist() for b in ShuffledBatches(x, y, 4, torch.Generator().manual_seed(0), shard=(r, 2))]
        for r in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) == len(whole)  # the same number of steps on every rank
    for batch, mine, theirs in zip(whole, *shards, strict=True):
        assert mine and theirs  # no rank without a row: DDP would wait for it
        if len(batch) >= 2:
            assert sorted(mine + theirs) == sorted(batch)
        else:  # a one-row batch: both ranks train on that row
            assert mine == theirs == batch


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory):
    """What ``tests/ddp_worker.py`` saves in one process and on each of two gloo ranks."""
    tmp_path = tmp_path_factory.mktemp("sharded")
    port, env = free_port(), os.environ | {"OMP_NUM_THREADS": "1"}
    ranks = [
        subprocess.Popen([sys.executable, str(WORKER), str(r), "2", str(port), str(tmp_path)], env=env)
        for r in range(2)
    ]
    threads = torch.get_num_threads()
    try:
        score(0, 1, 0, tmp_path)  # one process: this one
    finally:
        torch.set_num_threads(threads)
    assert [p.wait(TIMEOUT) for p in ranks] == [0, 0]
    return tuple(torch.load(tmp_path / f"rank{n}.pt") for n in ("0_of1", "0_of2", "1_of2"))


def test_sharded_scoring_equals_one_process(sharded_run):
    """Two gloo ranks score a pool of 995 candidates in 16 chunks: the same log-probabilities (to
    the bit) and the same query as one process, for a score, an embedding, an MC, an adversarial
    strategy and one over an ensemble's members, and the same MC-dropout samples."""
    one, r0, r1 = sharded_run
    for name in ("entropy", "badge", "bald", "dfal", "members"):
        assert torch.equal(one[name]["log_probs"], r0[name]["log_probs"]), name
        assert torch.equal(r0[name]["log_probs"], r1[name]["log_probs"]), name
        assert torch.equal(r0[name]["own"], r1[name]["own"]), name  # every rank decides the same
        assert torch.equal(one[name]["own"], r0[name]["shared"]) and len(one[name]["own"]) == 7, name
        assert torch.equal(one[name]["scores"], r0[name]["scores"]), name  # every candidate's score
        assert torch.equal(r0[name]["scores"], r1[name]["scores"]), name
    assert (
        torch.equal(one["member_log_probs"], r0["member_log_probs"]) and one["member_log_probs"].shape[0] == 3
    )
    for name in [key for key in one if key.startswith("mc/")]:  # every rank ran every other pass
        assert torch.equal(one[name], r0[name]) and torch.equal(r0[name], r1[name]), name
    # the work is split: MC passes 0, 2, 4 (T = 5, twice) and 0 (T = 1) of the 995 candidates on rank
    # 0, the others on rank 1; the labelled 1,000 in 16 chunks of 64: 8 + 3 MC passes vs 8 (one short) + 2
    assert one["rows"] == 11 * 995 + 1000 + 5 * 1000
    assert (r0["rows"], r1["rows"]) == (7 * 995 + 8 * 64 + 3 * 1000, 4 * 995 + 7 * 64 + 40 + 2 * 1000)
    # the dropout-free first layer runs once per sampling call on every rank, not once per pass
    assert one["prefix_rows"] == 3 * 995 + 1000 + 1000
    assert (r0["prefix_rows"], r1["prefix_rows"]) == (3 * 995 + 8 * 64 + 1000, 3 * 995 + 7 * 64 + 40 + 1000)


def test_sharded_evaluation_equals_one_process(sharded_run):
    """Each rank evaluates every other chunk (deterministic) or pass (MC-averaged); the counts are
    exact, the float64 sums differ from one process's only in their order."""
    one, r0, r1 = sharded_run
    for name in ("eval", "eval_mc"):
        assert r0[name] == r1[name], name
        assert (
            one[name].keys() == r0[name].keys()
            and one[name]["mc_samples" if name == "eval_mc" else "acc"] >= 0
        )
        for key, value in one[name].items():
            assert abs(value - r0[name][key]) < 1e-12, (name, key)
        assert (one[name]["balanced_acc"], one[name]["macro_f1"]) == (
            r0[name]["balanced_acc"],
            r0[name]["macro_f1"],
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.devices=2", "+trainer.strategy=ddp_spawn"], "use strategy=ddp"),
        (["trainer=ddp_cpu", "+trainer.num_nodes=2"], "trainer.num_nodes=2 runs through Slurm"),
        (["trainer=ddp_cpu", "fit_mode=fast"], "use fit_mode=lightning"),
    ],
)
def test_what_several_ranks_cannot_serve_is_refused(make_cfg, tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_fit(make_cfg(*overrides), tmp_path)


@pytest.mark.parametrize(("threads", "expected"), [("auto", None), (None, None), (3, 3)])
def test_each_rank_gets_its_share_of_the_cores_unless_told(make_cfg, threads, expected, monkeypatch):
    from alrun.run.ranks import threads_per_rank

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    cfg = make_cfg("trainer=ddp_cpu")
    cfg.threads = threads
    assert threads_per_rank(cfg, 2) == (expected or 4)


def test_ddp_cpu_is_two_ranks_on_lightnings_loop(make_cfg, tmp_path):
    path = check_fit(make_cfg("trainer=ddp_cpu"), tmp_path)
    assert (path.name, path.ranks) == ("lightning", 2)


def test_the_python_api_refuses_several_ranks(make_cfg, tmp_path):
    from alrun.run.experiment import run_experiment

    with pytest.raises(ConfigError, match="runs through the alrun command"):
        run_experiment(make_cfg("trainer=ddp_cpu"), tmp_path / "run")
    assert not (tmp_path / "run" / "run.json").exists() and not (tmp_path / "run" / "metrics.csv").exists()


SLURM = {"SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1", "SLURM_NODEID": "0", "SLURM_PROCID": "0",
         "SLURM_LOCALID": "0", "SLURM_JOB_NAME": "job", "SLURM_JOB_ID": "5"}  # fmt: skip


@pytest.mark.parametrize(
    ("variables", "message"), [(SLURM, "inside a Slurm job"), ({"LOCAL_RANK": "0"}, "not under torchrun")]
)
def test_an_outside_launcher_is_refused_up_front(make_cfg, tmp_path, monkeypatch, variables, message):
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message):
        check_fit(make_cfg("trainer=ddp_cpu"), tmp_path)


def alrun(tmp_path: Path, folder: str, *overrides: str, env: dict[str, str] | None = None):
    argv = [ALRUN, "experiment=smoke", "threads=1", "budget=12", f"hydra.run.dir={tmp_path / folder}"]
    return subprocess.run(
        [*argv, *overrides], capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path,
        env=os.environ | (env or {}),
    )  # fmt: skip


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_ddp_cpu_run_matches_one_process(tmp_path):
    """A digits run on 2 gloo ranks against one process, same seed, one thread each: the same
    labelled sets and metrics within 1e-4 (batches of 10 and more rows split in halves whose mean
    gradients DDP averages: the full batch's gradient up to float rounding of the sums)."""
    two = alrun(tmp_path, "two", "trainer=ddp_cpu", "strategy=margin")
    assert two.returncode == 0, two.stderr
    one = alrun(tmp_path, "one", "fit_mode=lightning", "strategy=margin")
    assert one.returncode == 0, one.stderr
    meta = json.loads((tmp_path / "two" / "run.json").read_text())
    assert (meta["status"], meta["ranks"]) == ("finished", 2)
    assert files(tmp_path / "two") == files(tmp_path / "one")  # each file once, nothing per rank
    q2, q1 = (pd.read_csv(tmp_path / f / "queries.csv") for f in ("two", "one"))
    assert q2["pool_index"].is_unique and (q2["round"] > 0).sum() == 12
    assert q2["pool_index"].tolist() == q1["pool_index"].tolist()
    m2, m1 = (pd.read_csv(tmp_path / f / "metrics.csv") for f in ("two", "one"))
    for key in ("test/acc", "test/loss", "train/loss"):
        assert (m2[key] - m1[key]).abs().max() < 1e-4, key


@pytest.mark.slow
def test_a_killed_rank_stops_the_run_which_resumes_to_the_same_result(tmp_path):
    killed = alrun(tmp_path, "run", "trainer=ddp_cpu", env={"ALRUN_FAULT": "fit@1", "ALRUN_FAULT_RANK": "1"})
    assert killed.returncode == 1, killed.stderr
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["status"] == "failed" and meta["reason"].startswith("rank 1 stopped (exit code -9)")
    resumed = alrun(tmp_path, "run", "trainer=ddp_cpu")
    assert resumed.returncode == 0, resumed.stderr
    straight = alrun(tmp_path, "straight", "trainer=ddp_cpu")
    assert straight.returncode == 0, straight.stderr
    a, b = (pd.read_csv(tmp_path / f / "metrics.csv") for f in ("run", "straight"))
    assert a["test/acc"].tolist() == b["test/acc"].tolist()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "finished"
