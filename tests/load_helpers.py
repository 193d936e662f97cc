"""CPU-bound processes beside a test, for what must hold on a busy machine too."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# a pure-Python busy loop that ends by itself when the process that started it is gone
HOG = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(10**6): pass\n"


@contextmanager
def cpu_hog(processes: int = 1) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Keep ``processes`` cores busy for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(processes)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
