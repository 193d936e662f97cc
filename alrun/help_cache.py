"""A cache of the plain ``alrun --help`` text, so that it answers without importing Hydra.

``alrun --help`` with nothing else on the command line prints the same text until the config folder
or the installed alrun, Hydra or OmegaConf changes: the text is kept in ``$XDG_CACHE_HOME/alrun/``
(else ``~/.cache/alrun/``) under a key hashed from all of them, written after the first answer and
read by the next ones. Any other command line (overrides, other config folders) takes the usual path
(:mod:`alrun.cli_early`). A cache that cannot be read or written is skipped silently: the help is
then computed as usual.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PLAIN_HELP = (["--help"], ["-h"])


def config_dir() -> str:
    """The configs folder: the checkout's top-level ``configs/`` (editable install), else the
    copy a wheel carries inside the package."""
    here = Path(__file__).resolve().parent
    top = here.parent / "configs"
    return str(top if (top / "config.yaml").is_file() else here / "configs")


def _key(folder: Path) -> str:
    from importlib.metadata import PackageNotFoundError, version  # 80 ms: only for a help request

    digest = hashlib.sha256()
    for package in ("alrun", "hydra-core", "omegaconf"):
        try:
            digest.update(f"{package}={version(package)};".encode())
        except PackageNotFoundError:
            digest.update(f"{package}=?;".encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


def cache_file(argv: list[str]) -> Path | None:
    """Where the help text of ``argv`` (without the program name) is cached, or ``None`` when ``argv``
    is not a plain help request or the cache folder is unknown."""
    if argv not in PLAIN_HELP:
        return None
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache" if Path.home().is_dir() else None)
    if base is None:
        return None
    try:
        return Path(base) / "alrun" / f"help-{_key(Path(config_dir()))}.txt"
    except OSError:
        return None


def cached_help(argv: list[str]) -> str | None:
    """The cached help text for ``argv``, or ``None``."""
    path = cache_file(argv)
    try:
        return path.read_text() if path is not None and path.is_file() else None
    except OSError:
        return None


def store_help(argv: list[str], text: str) -> None:
    """Keep ``text`` as the help of ``argv`` (written to a temporary file, then renamed)."""
    path = cache_file(argv)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        return
