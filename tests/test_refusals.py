"""Every kind of bad input is refused before the run starts: exit 2, exactly one stderr line naming the
key or value, no traceback, nothing left in a fresh run folder, an existing one byte-identical.

One table (``CASES``), one parametrized test. Every case runs into a fresh folder (and its parent,
both absent afterwards); one case of each stage of refusal (Hydra's composition, the top-level keys,
the validation phase, building the run, the user's code) also into an existing folder, and the
checkpoint and folder cases into copies of a killed run's folder. The cases run through the
``alrun`` command's entry point in one subprocess (``tests/cli_driver.py``) that pays the imports
once; two of them also through the installed console script.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from tests.test_cli import ALRUN

DRIVER = Path(__file__).with_name("cli_driver.py")
HYDRA_FILES = {".hydra/config.yaml": "seed: 7\n", ".hydra/hydra.yaml": "hydra: {}\n"}
PLAIN = {
    **HYDRA_FILES,
    ".hydra/overrides.yaml": "- seed=7\n",
    "metrics.csv": "round\n0\n",
    "notes.txt": "x\n",
}


@dataclass
class Ctx:
    """Paths the cases refer to (filled in by the fixture)."""

    root: Path
    data: Path  # the CSV the killed run was made on
    user: Path  # the folder holding the user's package ``mypkg``
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # per folder: files to swap in first
    held: list[int] = field(default_factory=list)  # lock files this test process holds


Setup = Callable[[Path, Ctx], Any]


@dataclass
class Case:
    """One refusal: the arguments, what the line must contain, and where it runs.

    ``where``: ``both`` (a fresh folder, and an existing folder of plain files), ``fresh``, or
    ``run`` (a copy of a killed run's folder, prepared by ``setup``).
    """

    id: str
    args: list[str] | Callable[[Ctx, Path], list[str]]
    needles: tuple[str, ...]
    where: str = "both"
    setup: Setup | None = None


# ---- what the killed-run cases do to their folder --------------------------------------------
def write_checkpoint(obj: Any) -> Setup:
    return lambda folder, ctx: torch.save(obj, folder / "checkpoint.pt")


def raw_checkpoint(data: Callable[[bytes], bytes]) -> Setup:
    def setup(folder: Path, ctx: Ctx) -> None:
        path = folder / "checkpoint.pt"
        path.write_bytes(data(path.read_bytes()))

    return setup


class Evil:
    """Pickles as a call of ``open(<marker>, "w")``: loading it with pickle would create the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def pickle_with_code(folder: Path, ctx: Ctx) -> None:
    torch.save({"config": Evil(ctx.root / "PWNED")}, folder / "checkpoint.pt")


def edit_checkpoint(**changes: Any) -> Setup:
    def setup(folder: Path, ctx: Ctx) -> None:
        payload = torch.load(folder / "checkpoint.pt", weights_only=True)
        for key, value in changes.items():
            payload[key] = value(payload, ctx) if callable(value) else value
        torch.save(payload, folder / "checkpoint.pt")

    return setup


RANDOM = np.random.default_rng(0).bytes(4096)


def seed_one(payload: Any, ctx: Ctx) -> dict[str, Any]:
    return {**payload["config"], "seed": 1}


def escape_names(payload: Any, ctx: Ctx) -> dict[str, str]:
    return {"../../../ESCAPED.txt": "x", str(ctx.root / "ESCAPED_ABS.txt"): "x", "config.yaml": "seed: 1\n"}


def other_data(kind: str) -> Setup:
    def setup(folder: Path, ctx: Ctx) -> None:
        df = pd.read_csv(ctx.data)
        if kind == "values":  # same rows, other values
            df["a"] = df["a"] + np.random.default_rng(1).normal(size=len(df))
        else:
            df = pd.concat([df, df.iloc[:6]])  # rows appended
        copy = ctx.root / f"data-{kind}.csv"
        df.to_csv(copy, index=False)
        ctx.files[str(folder)] = {str(ctx.data): str(copy)}

    return setup


def not_yaml(folder: Path, ctx: Ctx) -> None:
    (folder / ".hydra" / "overrides.yaml").write_text("{{{ not: [yaml\n")


def held_by_another_process(folder: Path, ctx: Ctx) -> None:
    fd = os.open(folder / ".alrun.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    ctx.held.append(fd)


def csv_args(ctx: Ctx, path: Path | str) -> list[str]:
    return ["dataset=csv", f"dataset.path={path}", "dataset.target=label", "dataset.drop=[id]"]


def killed_run_args(ctx: Ctx, folder: Path | None = None) -> list[str]:
    return ["experiment=smoke", "query_size=2", *csv_args(ctx, ctx.data)]


# one case of each stage also runs into an existing folder (the guard undoes whatever refused)
BOTH = {"unknown-strategy", "unknown-group-key", "unknown-key", "budget-text", "unknown-model-setting"}
BOTH |= {"lr-text", "lr-negative", "precision-17", "hidden-negative", "offset-zero", "consistent-no"}
BOTH |= {"csv-header-only", "user-import-error"}


def case(id: str, args: str | Any, *needles: str) -> Case:
    """A row of the table: ``args`` as typed on the command line (or a function of the folder)."""
    return Case(
        id, args.split() if isinstance(args, str) else args, needles, "both" if id in BOTH else "fresh"
    )


def killed(id: str, setup: Setup, *needles: str, args: Any = killed_run_args) -> Case:
    """A row run in a copy of the killed run's folder, prepared by ``setup``."""
    return Case(id, args, needles, "run", setup)


DAMAGED = "checkpoint.pt is damaged"
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="the message of a machine without CUDA")
CASES: list[Any] = [
    # Hydra: unknown options, keys, flags
    case("flags-clash", "-m strategy=random,margin --cfg job", "Only one of --run", "specified"),
    case("unknown-strategy", "strategy=entropyy", "unknown strategy 'entropyy'", "entropy"),
    case("unknown-dataset", "dataset=nope", "unknown dataset 'nope'", "digits"),
    case("unknown-model", "model=nope", "unknown model 'nope'", "mlp"),
    case("unknown-key", "budgte=100", "unknown config key 'budgte'", "top-level keys: batch_size, budget"),
    case("unknown-added-key", "+budgte=100", "unknown config key 'budgte'", "top-level keys"),
    case("unknown-model-setting", "+model.widht=3", "unexpected keyword argument 'widht'", "hidden, dropout"),
    case("unknown-optimizer-setting", "+optimizer.momentun=0.9", "'momentun'", "weight_decay"),
    case("strategy-takes-none", "+strategy.temperature=2", "Margin() takes no arguments", "no settings"),
    case("unknown-group-key", "strategy.tempreature=2", "unknown config key 'strategy.tempreature'", "--cfg"),
    # alrun's top-level keys
    case("budget-negative", "budget=-5", "budget=-5", "integers >= 0"),
    case("budget-text", "budget=abc", "budget='abc'", "integers >= 0"),
    case("query-size-zero", "query_size=0", "query_size=0", "integers >= 1"),
    case("reset-choice", "reset=sometimes", "reset='sometimes'", "snapshot, scratch, warm"),
    case("progress-text", "progress=no", "progress='no'", "true, false"),
    # settings that reach torch and Lightning (issue 13, item 5)
    case("lr-negative", "optimizer.lr=-1", "optimizer.lr=-1", "Invalid learning rate"),
    case("lr-text", "optimizer.lr=abc", "optimizer.lr='abc' is not a number"),
    case("lr-null", "optimizer.lr=null", "optimizer.lr=null is not a number"),
    case("momentum-negative", "optimizer=sgd optimizer.momentum=-1", "optimizer.momentum=-1", "momentum"),
    case("precision-text", "trainer.precision=foo", "trainer.precision='foo'", "bf16-mixed"),
    case("precision-17", "trainer.precision=17", "trainer.precision=17", "32-true"),
    case("max-epochs-text", "trainer.max_epochs=abc", "trainer.max_epochs='abc'", "integers >= 1"),
    case("max-epochs-zero", "trainer.max_epochs=0", "trainer.max_epochs=0", "integers >= 1"),
    case("max-epochs-negative", "trainer.max_epochs=-5", "trainer.max_epochs=-5", "integers >= 1"),
    pytest.param(
        case("gpu-no-cuda", "trainer=gpu", "accelerator=gpu", "no CUDA device", "trainer=cpu"), marks=NO_CUDA
    ),
    case("trainer-bool-text", "trainer.enable_progress_bar=no", "enable_progress_bar='no'", "true, false"),
    case("dropout-text", "model.dropout=abc", "model.dropout='abc' is not a number"),
    case("dropout-null", "model.dropout=null", "model.dropout=null is not a number"),
    case("hidden-negative", "model.hidden=[-5]", "model.hidden=[-5] is out of range", "integers >= 1"),
    case("hidden-text", "model.hidden=abc", "model.hidden='abc' is not a list", "lists of integers"),
    case("hidden-int", "model.hidden=64", "model.hidden=64 is not a list"),
    case("offset-zero", "strategy=power_margin strategy.offset=0", "strategy.offset=0", "offset >= 1"),
    # accepted silently before (item 6)
    case("consistent-no", "strategy=bald strategy.consistent=no", "strategy.consistent='no'", "true, false"),
    case("hidden-zero", "model.hidden=[0]", "model.hidden=[0] is out of range"),
    case("images-maybe", "dataset.images=maybe", "dataset.images='maybe'", "true, false"),
    case("split-seed-negative", "dataset.split_seed=-1", "dataset.split_seed=-1", "integers >= 0"),
    # weak messages (item 9)
    case("csv-header-only", lambda ctx, f: csv_args(ctx, ctx.root / "header.csv"), "header.csv", "no rows"),
    case(
        "csv-path-is-a-folder", lambda ctx, f: csv_args(ctx, ctx.root), "a folder, not a file", "dataset.path"
    ),
    case(
        "csv-drop-text", lambda ctx, f: [*csv_args(ctx, ctx.data), "dataset.drop=id"], "dataset.drop='id' is"
    ),
    case("test-fraction-text", "dataset.test_fraction=abc", "dataset.test_fraction='abc' is not a number"),
    # the user's own code (issue 17): the real exception's first line and where, printed verbatim
    case(
        "user-import-error", "model._target_=mypkg.broken.Net", "No module named 'numpyy'", "mypkg/broken.py"
    ),
    case(
        "user-code-raises", "model._target_=mypkg.raising.Net", "ValueError: bad [/] width [3]", "raising.py"
    ),
    # the run folder and its checkpoint (items 1, 2, 4, 7)
    killed(
        "crafted-checkpoint", edit_checkpoint(config=seed_one, hydra_files=escape_names), "(seed: 1 -> 0)"
    ),
    killed(
        "checkpoint-random-bytes", raw_checkpoint(lambda b: RANDOM), DAMAGED, "move it away to start again"
    ),
    killed("checkpoint-empty", raw_checkpoint(lambda b: b""), DAMAGED),
    killed("checkpoint-truncated", raw_checkpoint(lambda b: b[: len(b) // 2]), DAMAGED, "cannot read it"),
    killed("checkpoint-pickled-code", pickle_with_code, DAMAGED, "pickled objects"),
    killed("checkpoint-other-keys", write_checkpoint({"foo": 1}), DAMAGED, "unknown keys ['foo']"),
    killed("checkpoint-a-list", write_checkpoint([1, 2, 3]), DAMAGED, "holds a list"),
    killed("checkpoint-foreign-state", edit_checkpoint(strategy={"round": 0}), DAMAGED, "strategy state"),
    killed("data-values-changed", other_data("values"), "made on other data", "data.csv"),
    killed("data-rows-appended", other_data("rows"), "made on other data"),
    killed(
        "overrides-not-yaml", not_yaml, "overrides.yaml is not a list", args=lambda ctx, f: [f"resume={f}"]
    ),
    killed(
        "folder-in-use", held_by_another_process, "in use by another alrun process", f"(pid {os.getpid()})"
    ),
]


def case_of(param: Any) -> Case:
    return param.values[0] if hasattr(param, "values") else param


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (``None`` for folders)."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in folder.rglob("*")}


def write_user_package(user: Path) -> None:
    pkg = user / "mypkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "broken.py").write_text("import numpyy\n")
    (pkg / "raising.py").write_text(
        "class Net:\n    def __init__(self, **settings):\n        raise ValueError('bad [/] width [3]')\n"
    )


def write_data(root: Path) -> Path:
    rng = np.random.default_rng(0)
    labels = np.array(["cat", "dog", "emu"])[np.arange(120) % 3]
    x = rng.normal(size=(120, 4)) + (np.arange(120) % 3)[:, None] * 2.0
    df = pd.DataFrame(x, columns=["a", "b", "c", "d"]).assign(id=np.arange(120), label=labels)
    df.to_csv(root / "data.csv", index=False)
    (root / "header.csv").write_text("a,b,label\n")
    return root / "data.csv"


def killed_run(ctx: Ctx) -> Path:
    """A run folder whose run was killed in round 1 (its checkpoint holds round 0)."""
    folder = ctx.root / "killed" / "run"
    cmd = [ALRUN, *killed_run_args(ctx), f"hydra.run.dir={folder}"]
    env = dict(os.environ, ALRUN_FAULT="fit@1")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ctx.root, timeout=900)
    assert out.returncode == -signal.SIGKILL, out.stderr
    return folder


@dataclass
class Outcome:
    result: dict[str, Any]
    folder: Path
    before: dict[str, bytes | None] | None  # None: the folder was fresh
    argv: list[str]
    env: dict[str, str]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Outcome]:
    """Run every case of the table in one driver process; the outcome of each (case, variant)."""
    root = tmp_path_factory.mktemp("refusals")
    ctx = Ctx(root, write_data(root), root / "user")
    write_user_package(ctx.user)
    template = killed_run(ctx)
    jobs, found = [], {}
    for param in CASES:
        case = case_of(param)
        variants = {"both": ("fresh", "existing"), "fresh": ("fresh",), "run": ("run",)}[case.where]
        for variant in variants:
            folder = root / variant / case.id / "run"
            if variant == "existing":
                for rel, text in PLAIN.items():
                    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                    (folder / rel).write_text(text)
            elif variant == "run":
                shutil.copytree(template, folder)
                if case.setup is not None:
                    case.setup(folder, ctx)
            args = case.args(ctx, folder) if callable(case.args) else list(case.args)
            flags = 1 if args[0] == "-m" else 0  # the overrides must come together, before --cfg
            argv = (
                args
                if args[0].startswith("resume=")
                else [*args[:flags], f"hydra.run.dir={folder}", *args[flags:]]
            )
            jobs.append({"id": f"{case.id}/{variant}", "argv": argv, "files": ctx.files.pop(str(folder), {})})
            found[(case.id, variant)] = (folder, None if variant == "fresh" else tree(folder), argv)
    cases_file, results_file = root / "cases.json", root / "results.json"
    cases_file.write_text(json.dumps(jobs))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ctx.user), str(DRIVER.parents[1])]))
    run = subprocess.run(
        [sys.executable, str(DRIVER), str(cases_file), str(results_file)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=600,
    )
    for fd in ctx.held:
        os.close(fd)
    assert run.returncode == 0, run.stderr[-3000:]
    results = {r["id"]: r for r in json.loads(results_file.read_text())}
    assert not (root / "PWNED").exists()  # the pickled code never ran
    assert not list(root.rglob("ESCAPED*")) and not (root.parents[2] / "ESCAPED.txt").exists()
    return {key: Outcome(results[f"{key[0]}/{key[1]}"], *found[key], env) for key in found}


def check_folder(out: Outcome, variant: str) -> None:
    if out.before is None:
        assert not out.folder.parent.exists(), f"{variant}: {sorted(out.folder.parent.rglob('*'))}"
    else:
        assert tree(out.folder) == out.before, variant


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_one_line_exit_2_and_leaves_no_trace(outcomes, case):
    variants = [v for (cid, v) in outcomes if cid == case.id]
    assert variants
    for variant in variants:
        out = outcomes[(case.id, variant)]
        result = out.result
        lines = result["stderr"].strip().splitlines()
        assert result["code"] == 2, (variant, result)
        assert len(lines) == 1 and lines[0].startswith("alrun: error: "), (variant, result["stderr"])
        for needle in case.needles:
            assert needle in lines[0], (variant, lines[0])
        check_folder(out, variant)


@pytest.mark.parametrize("key", [("unknown-strategy", "existing"), ("checkpoint-truncated", "run")])
def test_the_driver_answers_as_the_console_script(outcomes, key):
    """A case of two stages (Hydra's composition; the run's checkpoint, after the validation phase), run
    again through the installed ``alrun`` in a process of its own: the same exit code, line and folder."""
    out = outcomes[key]
    run = subprocess.run(
        [ALRUN, *out.argv],
        capture_output=True,
        text=True,
        env=out.env,
        cwd=out.folder.parents[2],
        timeout=900,
    )
    assert (run.returncode, run.stderr) == (out.result["code"], out.result["stderr"])
    check_folder(out, key[1])
