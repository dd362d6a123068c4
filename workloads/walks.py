"""``walks``: a stream of page walks (TLB misses), each tagged with its guest page size.

The input of walk-cost models that need no TLB: every element is one walk to serve, and
its value says whether the guest maps the address with a 4 KiB (0), 2 MiB (1) or 1 GiB (2)
page, drawn at random with the given fractions (a guest whose transparent huge pages cover
part of its memory).

>>> from codesign.params import build
>>> sizes = generate(build(WalksParams, {"workload.walks": 8, "workload.huge_2m_fraction": 0.5}))
>>> sizes.dtype, sizes.shape, set(sizes.tolist()) <= {0, 1}
(dtype('int8'), (8,), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.params import param
from codesign.registry import Workload

PAGE_4K, PAGE_2M, PAGE_1G = 0, 1, 2


@dataclass(frozen=True)
class WalksParams:
    """Parameters of the ``walks`` workload."""

    walks: int = param(100_000, key="workload.walks", min=1, max=100_000_000,
                       doc="page walks to serve (TLB misses)")
    huge_2m: float = param(0.0, key="workload.huge_2m_fraction", min=0.0, max=1.0,
                           unit="fraction",
                           doc="fraction of walks whose guest mapping is a 2 MiB page")
    huge_1g: float = param(0.0, key="workload.huge_1g_fraction", min=0.0, max=1.0,
                           doc="fraction of walks whose guest mapping is a 1 GiB page")
    seed: int = param(1, key="workload.seed", min=0, max=2**63 - 1,
                      doc="seed of the page-size draw")

    def __post_init__(self) -> None:
        if self.huge_2m + self.huge_1g > 1.0:
            raise ValueError(
                "workload.huge_2m_fraction + workload.huge_1g_fraction must be <= 1, got "
                f"{self.huge_2m} + {self.huge_1g}"
            )


def generate(p: WalksParams) -> np.ndarray:
    """Guest page-size class of each walk (int8: 0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB)."""
    rng = np.random.default_rng(p.seed)
    probabilities = [max(0.0, 1.0 - p.huge_2m - p.huge_1g), p.huge_2m, p.huge_1g]
    return rng.choice(3, size=p.walks, p=probabilities).astype(np.int8)


WORKLOAD = Workload(
    name="walks",
    kind="walks",
    summary="a stream of page walks with a random mix of guest page sizes",
    params=WalksParams,
    generate=generate,
)
