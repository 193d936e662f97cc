"""One root seed, many independent random streams.

Every consumer of randomness asks for its own stream by name (and round), derived from the root
seed with :class:`numpy.random.SeedSequence`; nothing draws from a global RNG. Because a stream
depends only on ``(seed, name, round)``, two strategies at the same seed share their initial set,
initial weights and training noise, and a resumed run can rebuild any round's stream exactly.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

import numpy as np
import torch

STREAMS = (
    "split",
    "initial",
    "val",
    "weights",
    "train",
    "dropout",
    "mc_dropout",
    "tiebreak",
    "acquisition",
    "subsample",
    "stop_set",
    "bootstrap",
    "eval_dropout",
)


def derive(seed: int, *keys: int) -> int:
    """A 63-bit integer seed derived from ``seed`` and integer ``keys`` (NumPy's ``SeedSequence``).

    The one derivation of seeds in alrun: named streams (:meth:`Streams.entropy`) and the per-sample
    seeds of MC dropout both go through it, so distinct key paths give independent seeds.
    """
    state = np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


class Streams:
    """Factory of named, independent random streams derived from one root seed.

    Args:
        seed: the run's root seed.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def entropy(self, name: str, round_: int = 0) -> int:
        """A 63-bit integer seed for stream ``name`` at round ``round_``."""
        if name not in STREAMS:
            raise KeyError(f"unknown random stream {name!r}; known: {', '.join(STREAMS)}")
        return derive(self.seed, zlib.crc32(name.encode()), round_)

    def numpy(self, name: str, round_: int = 0) -> np.random.Generator:
        """A NumPy generator for stream ``name`` at round ``round_``."""
        return np.random.default_rng(self.entropy(name, round_))

    def torch(self, name: str, round_: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
        """A torch generator on ``device`` for stream ``name`` at round ``round_``."""
        gen = torch.Generator(device=device)
        gen.manual_seed(self.entropy(name, round_))
        return gen


@contextlib.contextmanager
def torch_global_seed(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run a block with torch's global RNG seeded, then put the global state back.

    Layers draw their initial weights and dropout masks from torch's global generator (they take no
    generator argument); this scope makes those draws a function of ``seed`` while leaving the
    global state exactly as it was before, so alrun never changes it for the user.

    Args:
        seed: the seed for the block.
        device: a CUDA device whose generator is forked and seeded too.
    """
    devices = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type="cuda"):
        torch.default_generator.manual_seed(seed)
        for dev in devices:
            with torch.cuda.device(dev):
                torch.cuda.manual_seed(seed)
        yield
