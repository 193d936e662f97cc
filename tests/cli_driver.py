"""Run the ``alrun`` command's entry point several times in one process (the refusal table's cases).

``python tests/cli_driver.py CASES.json RESULTS.json``: each case is ``{"id", "argv", "env", "files"}``
(``files``: ``{path: replacement}``, swapped in for the case and put back after it); its result is
the exit code and what the command printed. A case that ends in an uncaught exception
(a traceback) is recorded as exit code ``"traceback"`` with the traceback as its stderr. One process
pays the imports once; everything a case depends on (Hydra's global state, alrun's signal
handlers, the guard registry) is reset between cases.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    from hydra.core.global_hydra import GlobalHydra

    from alrun import cli
    from alrun.run import guard, safety

    GlobalHydra.instance().clear()
    guard._PENDING.clear()
    safety._received.clear()
    saved_env = dict(os.environ)
    os.environ.update(case.get("env", {}))
    originals = {path: Path(path).read_bytes() for path in case.get("files", {})}
    for path, replacement in case.get("files", {}).items():
        shutil.copyfile(replacement, path)
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["alrun", *case["argv"]]
    code: Any = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                code = "traceback"
                err.write(traceback.format_exc())
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        for path, data in originals.items():
            Path(path).write_bytes(data)
    return {"id": case["id"], "code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main() -> None:
    cases_file, results_file = sys.argv[1:3]  # the cases set sys.argv
    with open(cases_file) as f:
        cases = json.load(f)
    results = [run_case(case) for case in cases]
    with open(results_file, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
