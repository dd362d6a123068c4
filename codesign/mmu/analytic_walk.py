"""``analytic-walk``: the cost of uncached page walks, native (1D) or nested (2D).

A native radix walk of ``n`` levels reads one entry per level: ``n`` references. In a
two-dimensional walk every guest-physical address the guest walk produces (the ``n_g``
table pointers and the final guest-physical page) must itself be translated by an ``n_h``
level host walk, so a walk costs ``n_g + (n_g + 1) * n_h = (n_g + 1)(n_h + 1) - 1``
references (Bhargava et al., ASPLOS 2008): 4 natively and 24 nested with 4 levels each.
A huge page ends its walk early: a 2 MiB mapping skips the last level, 1 GiB the last two,
in the guest table (per walk, from the workload) and in the host table (``host.page_size``,
the hypervisor's backing policy). With no page-walk caches every reference goes to memory,
costing ``memory.latency`` cycles each, one after the other (each reads the pointer the
last one returned).

>>> refs(4, 4), refs(5, 5), refs(5, 4), refs(3, 4), refs(3, 3), refs(2, 2), refs(4, None)
(24, 35, 29, 19, 15, 8, 4)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.metrics import Metrics, cycles, latency
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism
from workloads.walks import WalksParams

LEVELS_SKIPPED = {"4K": 0, "2M": 1, "1G": 2}


def refs(guest_levels: int, host_levels: int | None) -> int:
    """Memory references of one uncached walk (``host_levels=None``: native)."""
    if host_levels is None:
        return guest_levels
    return (guest_levels + 1) * (host_levels + 1) - 1


@dataclass(frozen=True)
class AnalyticWalkParams:
    """Parameters of ``analytic-walk``."""

    virtualized: bool = param(True, key="virtualized",
                              doc="nested (2D) walk through guest and host tables; false: native")
    guest_levels: int = param(4, key="guest.levels", min=2, max=5,
                              unit="levels",
                              doc="radix levels of the guest (or native) page table")
    host_levels: int = param(4, key="host.levels", min=2, max=5, when={"virtualized": True},
                             unit="levels",
                             doc="radix levels of the host (nested / EPT) page table")
    host_page: str = param("4K", key="host.page_size", choices=tuple(LEVELS_SKIPPED),
                           when={"virtualized": True},
                           doc="page size with which the hypervisor backs guest memory")

    def __post_init__(self) -> None:
        if self.virtualized and self.host_levels - LEVELS_SKIPPED[self.host_page] < 1:
            raise ValueError(f"host.page_size={self.host_page} needs host.levels >= "
                             f"{LEVELS_SKIPPED[self.host_page] + 1}, got {self.host_levels}")


def _check(w: WalksParams, p: AnalyticWalkParams) -> None:
    if w.huge_1g > 0 and p.guest_levels < 3:
        raise ValueError(f"1 GiB guest pages need guest.levels >= 3, got {p.guest_levels}")


def run(sizes: np.ndarray, p: AnalyticWalkParams, platform: Platform) -> Metrics:
    """Metrics of serving every walk in ``sizes`` (guest page-size classes)."""
    counts = np.bincount(sizes, minlength=3)[:3].astype(np.int64)
    guest = np.array([p.guest_levels - s for s in range(3)], dtype=np.int64)
    if p.virtualized:
        host = p.host_levels - LEVELS_SKIPPED[p.host_page]
        total = (guest + 1) * (host + 1) - 1
    else:
        total = guest.copy()
    nested = total - guest
    latency_cycles = platform.value("memory.latency")
    walks = int(counts.sum())
    refs_guest, refs_nested = int(counts @ guest), int(counts @ nested)
    present = counts > 0
    return (
        Metrics({
            "walks": walks,
            "walk.refs.guest": refs_guest,
            "walk.refs.nested": refs_nested,
            "walk.refs": refs_guest + refs_nested,
            "walk.refs_per_walk": (refs_guest + refs_nested) / walks,
            "cycles.per_walk": (refs_guest + refs_nested) * latency_cycles / walks,
        })
        | cycles({"walk.guest": refs_guest * latency_cycles,
                  "walk.nested": refs_nested * latency_cycles})
        | latency(total[present] * latency_cycles, "cycles", weights=counts[present])
    )


MECHANISM = Mechanism(
    name="analytic-walk",
    accepts=("walks",),
    summary="uncached 1D or 2D page-walk cost: (n_g+1)(n_h+1)-1 references at memory latency",
    params=AnalyticWalkParams,
    run=run,
    costs=("memory.latency",),
    headline=("walk.refs_per_walk", "cycles.per_walk", "latency.p99_cycles"),
    check=_check,
)
