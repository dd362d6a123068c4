"""The nested TLB earns its area on the bundled TLB-bound mixes (issue 12).

Bhargava et al. (ASPLOS 2008) add a nested TLB on top of the page-walk caches: it caches the
nested (gPA -> host-physical) translations of guest page-table pages, so a hit skips a whole
host walk. Under the ``nested`` mechanism with the default hardware (16 entries, 4 ways), the
TLB-bound mixes of the ``steady-state`` and ``tlb-miss-heavy`` suites must see it hit, and see
fewer walk references per walk than the same hardware without it. Before the fix the guest
page-walk cache kept host-physical table bases, so only the data page's translation ever
reached the nested TLB, which never hit (0 hits on GUPS over 32 MiB; 2.000 references per walk
with 0 or 16 entries). Streams are cut to 20,000 references to keep each case near a second.
"""

from __future__ import annotations

import pytest

from codesign.harness import Point, evaluate
from codesign.metrics import Metrics
from workloads.memory.suites import Mix, suite

TLB_BOUND: dict[str, tuple[str, ...]] = {
    "steady-state": ("random-gups-32m", "pointer-chase-32m", "zipf-64m"),
    "tlb-miss-heavy": ("random", "pointer-chase", "strided", "zipf"),
}
REFS = 20_000


def _mixes() -> list[tuple[str, Mix]]:
    out = []
    for name, labels in TLB_BOUND.items():
        mixes = {m.label: m for m in suite(name).mixes}
        out += [(name, mixes[label]) for label in labels]
    return out


def _run(mix: Mix, **hardware: object) -> Metrics:
    params = {**mix.values(), "workload.refs": REFS, "hw.cost": False, **hardware}
    return evaluate(Point(mix.workload, "nested", params=params))


@pytest.mark.parametrize(("suite_name", "mix"), _mixes(),
                         ids=[f"{s}/{m.label}" for s, m in _mixes()])
def test_the_nested_tlb_hits_and_shortens_the_walks(suite_name: str, mix: Mix) -> None:
    with_ntlb, without = _run(mix), _run(mix, **{"ntlb.entries": 0})
    hits, misses = with_ntlb["walk.ntlb_hits"], with_ntlb["walk.ntlb_misses"]
    # Same TLB, same misses: only the walks' cost differs.
    assert with_ntlb["walks"] == without["walks"] > 1000
    # Every walk translates at least its level-1 guest table through the nested TLB; the
    # 32-64 MiB mixes' 16-32 guest page tables fit it (or half of them), the 1 GiB mixes
    # also find their level-2 table there.
    assert hits > 0 and hits / (hits + misses) >= 0.3
    assert without["walk.ntlb_hits"] == without["walk.ntlb_misses"] == 0
    # A hit skips a host walk, at least one reference even when the nested page-walk cache
    # holds the host page table: a quarter of a reference per walk at the very least.
    saved = without["walk.refs_per_walk"] - with_ntlb["walk.refs_per_walk"]
    assert saved >= 0.25, (saved, with_ntlb["walk.refs_per_walk"])
    assert with_ntlb["walk.refs.nested"] < without["walk.refs.nested"]
    assert with_ntlb["walk.refs.guest"] == without["walk.refs.guest"]
