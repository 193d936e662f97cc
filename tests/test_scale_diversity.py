"""The scale benchmark of the embedding strategies runs (tiny mode), so it cannot rot."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "scale_diversity.py"


def test_scale_benchmark_tiny_mode_reports_time_and_memory(capsys):
    spec = importlib.util.spec_from_file_location("scale_diversity", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--tiny", "--threads", "1"])
    assert [r["strategy"] for r in results] == ["coreset", "badge"]
    for r in results:
        assert r["batch"] == 20 and r["query_s"] > 0 and r["peak_rss_mib"] >= r["rss_before_mib"] > 0
    assert "s per query" in capsys.readouterr().out
