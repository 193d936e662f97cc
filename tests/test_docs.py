"""The documentation: the site builds strictly and the README stays short."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_readme_is_short_and_links_existing_pages() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    for line in text.splitlines():
        if "](docs/" in line:
            page = line.split("](docs/", 1)[1].split(")", 1)[0].split("#")[0]
            assert (ROOT / "docs" / page).is_file(), page
