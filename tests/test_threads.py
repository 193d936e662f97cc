"""The ``threads`` setting: its values, what ``auto`` picks, and OpenMP's wait policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from alrun.config.checks import MAX_THREADS, check_threads
from alrun.errors import ConfigError
from alrun.models.nets import MLP
from alrun.run import threads
from tests.test_cli import ALRUN


@pytest.mark.parametrize("value", ["auto", None, 1, 2, MAX_THREADS])
def test_allowed_thread_settings(value):
    check_threads(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "threads=0 is out of range"),
        (-1, "threads=-1 is out of range"),
        (MAX_THREADS + 1, f"threads={MAX_THREADS + 1} is out of range"),
        (10**30, f"threads={10**30} is out of range"),
        ("10**30", "threads='10**30' is not allowed"),
        ("many", "threads='many' is not allowed"),
        (True, "threads=true is not allowed"),
        (1.5, "threads=1.5 is not allowed"),
    ],
)
def test_bad_thread_settings_name_the_value_and_the_choices(value, message):
    with pytest.raises(ConfigError) as err:
        check_threads(value)
    assert str(err.value) == f"{message} (allowed: auto, null or integers from 1 to {MAX_THREADS})"


def test_a_huge_thread_count_is_one_line_and_exit_2(tmp_path):
    out = subprocess.run(
        [ALRUN, "experiment=smoke", f"threads={10**30}", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"alrun: error: threads={10**30} is out of range (allowed: auto, null or integers from 1 to 1024)"
    ]
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_forward_flops_count_linear_and_convolution_layers():
    mlp = MLP(input_shape=(784,), n_classes=10, hidden=[512, 512])
    assert threads.forward_flops(mlp, (784,)) == 2 * (784 * 512 + 512 * 512 + 512 * 10)
    conv = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Flatten(), nn.Linear(8 * 26 * 26, 10))
    assert threads.forward_flops(conv, (1, 28, 28)) == 2 * (8 * 26 * 26 * 9 + 8 * 26 * 26 * 10)


def test_forward_flops_leave_the_net_as_it_was():
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    threads.forward_flops(net, (4,))
    assert net.training and torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_auto_gives_a_small_model_one_thread_and_a_large_one_torchs_default(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    small = MLP(input_shape=(64,), n_classes=10, hidden=[64, 64])  # the default digits model
    large = MLP(input_shape=(784,), n_classes=10, hidden=[512, 512])
    assert threads.resolve("auto", small, (64,), 32) == 1
    assert threads.resolve("auto", large, (784,), 64) == 8
    assert threads.resolve(None, small, (64,), 32) == 8
    assert threads.resolve(3, large, (784,), 64) == 3


def test_the_thread_count_is_written_to_run_json(make_cfg, tmp_path):
    from alrun.run.experiment import run_experiment

    run_experiment(make_cfg("budget=0"), tmp_path / "run")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["threads"] == 1


@pytest.mark.parametrize(
    ("others", "threads_", "cores", "expected"),
    [
        (0, 2, 2, threads.SHORT_SPIN),  # a quiet machine: a short spin lets the second thread pay
        (1, 2, 2, threads.PASSIVE),  # one core taken: a spinning thread would steal the working one's
        (1, 1, 2, threads.SHORT_SPIN),  # a sweep worker with one thread fits beside it
        (3, 4, 8, threads.SHORT_SPIN),
        (5, 4, 8, threads.PASSIVE),
    ],
)
def test_threads_spin_briefly_where_they_fit_and_wait_passively_where_they_do_not(
    others, threads_, cores, expected
):
    assert threads.openmp_wait(others, threads_, cores) == expected


def test_the_short_spin_is_for_libgomp_only(monkeypatch):
    assert threads.torch_uses_libgomp()  # the PyPI wheel ships GNU's OpenMP runtime
    monkeypatch.setattr(threads, "torch_uses_libgomp", lambda: False)
    monkeypatch.setattr(threads, "other_runnable", lambda: 0)
    for key in threads.USER_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(threads, "torch_loaded", lambda: False)
    assert threads.choose_openmp_wait() == "OMP_WAIT_POLICY=PASSIVE"


def test_other_runnable_threads_are_read_from_the_kernel():
    others = threads.other_runnable(samples=2, pause_s=0.0)
    assert others is None or others >= 0


PROBE = (
    "import os; from alrun.run.threads import choose_openmp_wait as c; "
    "print(c(), os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))"
)


def probe(setup: str, env: dict[str, str], hog: bool = False) -> list[str]:
    """``choose_openmp_wait`` in a fresh interpreter: what it returned and the two variables after."""
    environ = {k: v for k, v in os.environ.items() if k not in threads.USER_KEYS}
    code = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass\n"
    hogs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(os.cpu_count() or 1)] if hog else []
    try:
        out = subprocess.run(
            [sys.executable, "-c", setup + PROBE], capture_output=True, text=True, env={**environ, **env}
        )
    finally:
        for proc in hogs:
            proc.kill()
            proc.wait()
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize(
    ("setup", "env", "expected"),
    [
        ("", {"OMP_WAIT_POLICY": "ACTIVE"}, "None ACTIVE None"),  # the user's own setting stays
        ("", {"GOMP_SPINCOUNT": "5"}, "None None 5"),
        ("import torch; ", {}, "None None None"),  # too late: torch's OpenMP runtime read it already
    ],
)
def test_the_users_openmp_wait_is_kept(setup, env, expected):
    assert probe(setup, env) == expected.split()


def test_with_every_core_busy_openmp_threads_wait_passively():
    assert probe("", {}, hog=True) == ["OMP_WAIT_POLICY=PASSIVE", "PASSIVE", "None"]


def test_the_cli_sets_the_wait_policy_before_anything_imports_torch(tmp_path):
    code = (
        "import os, sys; import alrun.cli as cli\n"
        "cli._task = lambda: print('torch' in sys.modules, os.environ.get('OMP_WAIT_POLICY'), "
        "os.environ.get('GOMP_SPINCOUNT'))\n"
        "sys.argv = ['alrun', 'experiment=smoke']; cli.main()"
    )
    env = {k: v for k, v in os.environ.items() if k not in threads.USER_KEYS}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.stdout.split()[-3:] in (["False", "PASSIVE", "None"], ["False", "None", "30000"]), out.stderr


def test_help_does_not_pay_for_the_wait_policy():
    code = "import os, sys; sys.argv = ['alrun', '--help']; from alrun.cli import main; main()"
    env = {k: v for k, v in os.environ.items() if k not in threads.USER_KEYS}
    code += "; print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split()[-2:] == ["None", "None"], out.stderr


def test_run_json_records_the_openmp_wait(make_cfg, tmp_path):
    from alrun.run.experiment import run_experiment

    run_experiment(make_cfg("budget=0"), tmp_path / "run")
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["openmp_wait"] == threads.openmp_wait_in_use() != ""
