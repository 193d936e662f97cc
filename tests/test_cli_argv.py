"""Config errors the command line shows by itself: refused before Hydra, in Hydra's own words."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hydra.core.global_hydra import GlobalHydra

from alrun import cli_early
from alrun.cli import describe
from alrun.config.argv import check_argv, complete_option, literal
from alrun.config.checks import validate
from alrun.errors import ConfigError
from alrun.help_cache import config_dir

REFUSED = [
    ["strategy=entropi"],
    ["experiment=nope"],
    ["model=nope", "budget=5"],
    ["budget=-1"],
    ["budget=abc"],
    ["seed=-3", "strategy=margin"],
    ["query_size=0"],
    ["eval_mc_samples=-1"],
    ["threads=0"],
    ["threads=many"],
    ["progress=yes"],
    ["progress=1"],
    ["reset=hot"],
    ["initial=null"],
    ["fit_mode=Fast"],
]

LEFT_TO_HYDRA = [
    ["strategy=margin", "budget=5"],
    ["budget=1e3"],  # a float: Hydra's grammar decides
    ["budget=-1", "budget=5"],  # the last one wins in Hydra
    ["-m", "strategy=nope"],
    ["+strategy=nope"],
    ["strategy=nope,margin"],
    ["hydra.searchpath=[file:///tmp]", "strategy=mine"],
    ["resume=outputs/x", "budget=-1"],
    ["experiment=null"],
    ["threads=auto", "threads_x=1"],
    ["budget=${oc.env:B}"],
]


def hydras_message(argv: list[str]) -> str:
    """The one line alrun prints for ``argv`` after composing the config with Hydra."""
    GlobalHydra.instance().clear()
    try:
        cli_early.check_values(argv, config_dir(), validate)
    except Exception as exc:  # the message is the point
        return describe(exc)
    finally:
        GlobalHydra.instance().clear()
    raise AssertionError(f"Hydra's path accepted {argv}")


@pytest.mark.parametrize("argv", REFUSED, ids=" ".join)
def test_refused_before_hydra_with_hydras_message(argv):
    with pytest.raises(ConfigError) as refused:
        check_argv(argv, config_dir())
    assert str(refused.value) == hydras_message(argv)


@pytest.mark.parametrize("argv", LEFT_TO_HYDRA, ids=" ".join)
def test_what_it_cannot_judge_alone_is_left_to_hydra(argv):
    check_argv(argv, config_dir())  # raises nothing


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("-1", (True, -1)),
        ("+5", (True, 5)),
        ("TRUE", (True, True)),
        ("Null", (True, None)),
        ("abc", (True, "abc")),
        ("007", (False, None)),
        ("1_0", (False, None)),
        ("nan", (False, None)),
        ("'x'", (False, None)),
        ("1.5", (False, None)),
    ],
)
def test_literals_are_read_as_hydras_grammar_reads_them(text, value):
    assert literal(text) == value
    if value[0]:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        assert OverridesParser.create().parse_overrides([f"k={text}"])[0].value() == value[1]


def test_an_unknown_hydra_plugin_turns_the_early_check_off(tmp_path):
    plugin = tmp_path / "hydra_plugins" / "someone_elses"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from alrun.config.argv import plugins_known; print(plugins_known())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def hydras_completion(line: str) -> str:
    """What Hydra's own bash completion prints for ``line`` (alrun.cli, without alrun.entry)."""
    code = "import sys; sys.argv = ['alrun', '-sc', 'query=bash']; from alrun.cli import main; main()"
    env = {**os.environ, "COMP_LINE": line}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(
    "line",
    [
        "alrun strategy=ma",
        "alrun strategy=",
        "alrun budget=5 model=",
        "alrun experiment=gal",
        "alrun strategy=zz",
    ],
)
def test_option_completion_without_hydra_is_hydras(line):
    ours = complete_option(["-sc", "query=bash"], line, config_dir())
    assert ours is not None and ours + "\n" == hydras_completion(line)


@pytest.mark.parametrize(
    "line", ["alrun strat", "alrun strategy=margin ", "alrun -m strategy=", "alrun model.hid"]
)
def test_other_completions_are_left_to_hydra(line):
    assert complete_option(["-sc", "query=bash"], line, config_dir()) is None
