"""Several ranks started by Slurm's ``srun`` (one task per device): which rank a task is, what is
refused up front, a run of two tasks emulated with Slurm's variables (no Slurm needed), and (marked
``slurm``) real ``srun`` steps and launcher sweeps on the local one-node Slurm."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from alrun import launched
from alrun.errors import ConfigError
from alrun.training.preflight import check_fit
from tests.test_ddp import ALRUN, TIMEOUT, files, free_port
from tests.test_slurm import assert_same_run, metric_text, slurm  # noqa: F401 (slurm: a fixture)

SMOKE = ("experiment=smoke", "threads=1", "budget=12", "trainer=ddp_cpu", "progress=false")
SRUN = ("srun", "--ntasks-per-node=2", "--kill-on-bad-exit=1")


def task_env(rank: int, tasks: int = 2, nodes: int = 1, **more: str) -> dict[str, str]:
    """What ``srun --nodes=nodes --ntasks-per-node=tasks/nodes`` sets for task ``rank``."""
    per_node = tasks // nodes
    env = {"SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0", "SLURM_JOB_NAME": "alrun", "SLURM_NTASKS": str(tasks)}
    env |= {"SLURM_NTASKS_PER_NODE": str(per_node), "SLURM_NNODES": str(nodes), "SLURM_NODELIST": "localhost"}
    env |= {"SLURM_STEP_NUM_NODES": str(nodes), "SLURM_PROCID": str(rank)}
    env |= {"SLURM_LOCALID": str(rank % per_node), "SLURM_NODEID": str(rank // per_node)}
    return env | more


@pytest.fixture
def in_task(monkeypatch):
    """Set (or drop, with ``None``) this process's Slurm variables."""

    def set_env(env: dict[str, str | None]) -> None:
        for key, value in env.items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)

    for key in [k for k in os.environ if k.startswith("SLURM_")] + [launched.RANK_ENV]:
        monkeypatch.delenv(key, raising=False)
    return set_env


def test_a_task_of_a_step_of_several_is_its_slurm_rank(in_task):
    in_task(task_env(1))
    assert (launched.slurm_tasks(), launched.launched_rank(), launched.is_child()) == (2, 1, True)
    assert not launched.launched_by_alrun()  # so it reads its own command line
    assert launched.slurm_run_dir() == "outputs/slurm-77.0"


def test_a_batch_script_or_one_task_is_no_set_of_ranks(in_task):
    in_task(task_env(0, tasks=2) | {"SLURM_STEP_ID": None, "SLURM_PROCID": "1"})  # sbatch's own shell
    assert (launched.slurm_tasks(), launched.launched_rank(), launched.slurm_run_dir()) == (0, 0, None)
    in_task(task_env(0, tasks=1))
    assert (launched.slurm_launched(), launched.slurm_run_dir()) == (False, None)


def test_only_a_launcher_job_runs_several_ranks_in_a_sweep(in_task):
    in_task(task_env(0))
    assert not launched.launcher_job()  # `srun alrun -m ...`: each task would sweep into its own folders
    in_task({"SUBMITIT_EXECUTOR": "slurm"})
    assert launched.launcher_job()


def test_alrun_launched_rank_wins_over_slurm(in_task):
    in_task(task_env(0) | {launched.RANK_ENV: "1"})
    assert (launched.launched_rank(), launched.launched_by_alrun()) == (1, True)


@pytest.mark.parametrize(
    ("env", "overrides", "message"),
    [
        (task_env(0) | {"SLURM_STEP_ID": None}, (), "(this is not an srun step): srun --nodes=1"),
        (task_env(0, tasks=3) | {"SLURM_NTASKS_PER_NODE": "2"}, (), "(this step has 3 tasks)"),
        (task_env(0) | {"SLURM_NTASKS_PER_NODE": None}, (), "--ntasks=2 without --ntasks-per-node"),
        (task_env(0) | {"SLURM_STEP_NUM_NODES": "2"}, (), "trainer.num_nodes=1 but the Slurm step runs on 2"),
        (task_env(0, tasks=4, nodes=2), (), "(this step has 4 tasks)"),
        (task_env(0) | {"SLURM_NTASKS_PER_NODE": "1"}, (), "the Slurm step has --ntasks-per-node=1"),
        ({}, ("+trainer.num_nodes=2",), "trainer.num_nodes=2 runs through Slurm (one task per device: srun"),
    ],
)
def test_a_step_that_is_not_one_task_per_rank_is_refused_in_one_line(
    make_cfg, tmp_path, in_task, env, overrides, message
):
    in_task(env)
    with pytest.raises(ConfigError) as err:
        check_fit(make_cfg("trainer=ddp_cpu", *overrides), tmp_path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_several_tasks_for_one_device_are_refused(make_cfg, tmp_path, in_task):
    in_task(task_env(1))  # `srun -n 2 alrun ...`: two copies of one run would race for its folder
    with pytest.raises(ConfigError, match=r"trainer.devices=1 .* \(this step has 2 tasks\)"):
        check_fit(make_cfg(), tmp_path)


@pytest.mark.parametrize(("tasks", "nodes"), [(2, 1), (4, 2)])
def test_one_task_per_device_on_every_node_is_served(make_cfg, tmp_path, in_task, tasks, nodes):
    in_task(task_env(tasks - 1, tasks=tasks, nodes=nodes))
    cfg = make_cfg("trainer=ddp_cpu", f"+trainer.num_nodes={nodes}")
    assert check_fit(cfg, tmp_path).ranks == tasks


def test_a_rank_takes_slurms_cpus_per_task(make_cfg, in_task):
    from alrun.run.ranks import threads_per_rank

    in_task(task_env(0) | {"SLURM_CPUS_PER_TASK": "3"})
    assert threads_per_rank(make_cfg("trainer=ddp_cpu", "threads=auto"), 2) == 3


def test_a_lost_peer_is_one_line_naming_it():
    from alrun.errors import RunFailed
    from alrun.run.launch import Ranks
    from alrun.run.ranks import FirstReason, peer_lost, run_on_ranks

    gloo = RuntimeError("[gloo/transport/tcp/pair.cc:537] Read error: Connection reset by peer")
    assert peer_lost(gloo) and not peer_lost(RuntimeError("shapes do not match"))

    class Exp:
        def __getattr__(self, name):
            raise gloo

    with pytest.raises(RunFailed, match="another rank stopped; its error is in the job's output"):
        run_on_ranks(Exp(), [], 0, Ranks(2, "gloo"))
    statuses: list[tuple[str, str | None]] = []

    class Folder:
        def run_finished(self, status, reason=None):
            statuses.append((status, reason))

    FirstReason(Folder(), Ranks(2, "gloo"), wait_s=600).run_finished("failed", "gloo")  # no wait
    assert statuses == [("failed", "gloo")]


def start_task(tmp_path: Path, rank: int, port: int, *overrides: str) -> subprocess.Popen[str]:
    env = os.environ | task_env(rank) | {"MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [ALRUN, *SMOKE, *overrides], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def test_two_tasks_with_slurms_variables_are_one_run_as_alrun_launches_it(tmp_path):
    """Two ``alrun`` commands with the variables ``srun`` sets (no Slurm here) are one run in
    ``outputs/slurm-<job>.<step>``: the same files and results as the two ranks alrun launches."""
    port = free_port()
    tasks = [start_task(tmp_path, r, port, "strategy=margin") for r in range(2)]
    (out0, err0), (out1, err1) = (t.communicate(timeout=TIMEOUT) for t in tasks)
    assert [t.returncode for t in tasks] == [0, 0], err0 + err1
    assert out1 == "" and "done: test/acc" in out0  # rank 1 prints nothing; rank 0 the run
    folder = tmp_path / "outputs" / "slurm-77.0"
    argv = [ALRUN, *SMOKE, "strategy=margin", f"hydra.run.dir={tmp_path / 'own'}"]
    own = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert own.returncode == 0, own.stderr
    assert files(folder) == files(tmp_path / "own")
    assert json.loads((folder / "run.json").read_text())["ranks"] == 2
    assert_same_run(folder, tmp_path / "own")


# ---- against the local Slurm ---------------------------------------------------------------------
def srun(tmp_path: Path, folder: str, *overrides: str, env: dict[str, str] | None = None):
    argv = [*SRUN, ALRUN, *SMOKE, f"hydra.run.dir={tmp_path / folder}", *overrides]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path,
                          env=os.environ | (env or {}))  # fmt: skip


@pytest.mark.slurm
def test_an_srun_step_is_the_run_alrun_launches(slurm, tmp_path):  # noqa: F811
    step = srun(tmp_path, "step")
    assert step.returncode == 0, step.stderr
    own = subprocess.run(
        [ALRUN, *SMOKE, f"hydra.run.dir={tmp_path / 'own'}"], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert own.returncode == 0, own.stderr
    assert files(tmp_path / "step") == files(tmp_path / "own")
    assert_same_run(tmp_path / "step", tmp_path / "own")


@pytest.mark.slurm
def test_a_killed_task_fails_the_step_which_runs_again_to_the_same_result(slurm, tmp_path):  # noqa: F811
    killed = srun(tmp_path, "run", env={"ALRUN_FAULT": "fit@1", "ALRUN_FAULT_RANK": "1"})
    assert killed.returncode != 0
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (meta["status"], meta["rounds_done"]) == ("failed", 1), meta
    assert "Traceback" not in killed.stderr
    again = srun(tmp_path, "run")
    assert again.returncode == 0, again.stderr
    assert srun(tmp_path, "straight").returncode == 0
    assert_same_run(tmp_path / "run", tmp_path / "straight")


@pytest.mark.slurm
def test_a_launcher_job_of_two_tasks_per_node_is_a_run_on_two_ranks(slurm, tmp_path):  # noqa: F811
    sweep = tmp_path / "sweep"
    launcher = ("hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1")
    argv = [ALRUN, "-m", *launcher, "hydra.launcher.tasks_per_node=2", *SMOKE, "budget=4", "seed=0,1"]
    done = subprocess.run([*argv, f"hydra.sweep.dir={sweep}"], capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    runs = sorted(p.parent for p in sweep.glob("*/run.json"))
    assert len(runs) == 2
    for run in runs:
        meta = json.loads((run / "run.json").read_text())
        assert (meta["status"], meta["ranks"]) == ("finished", 2)
        assert len(metric_text(run)) == 3  # header, round 0 and one query of 4
