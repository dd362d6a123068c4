"""One INVLPG per changed leaf, whatever its size (Intel SDM Vol. 3A, INVLPG: the
instruction drops the translation of the whole page holding the address)."""

from __future__ import annotations

from codesign.harness import Point, evaluate

CHURN = {"workload.cycles": 12, "workload.region_pages": 1024, "hw.cost": False}


def _metrics(mechanism: str, huge: str) -> dict:
    return dict(evaluate(Point("mmap-churn", mechanism, params={**CHURN,
                                                                "guest.huge_pages": huge})))


def test_a_2m_leaf_costs_one_invlpg_not_512() -> None:
    small, large = _metrics("native", "none"), _metrics("native", "2M")
    shadow = _metrics("shadow", "2M")
    # the guest's INVLPGs are the ones shadow paging traps: one per leaf it changed
    assert large["os.invlpg"] == shadow["traps.vmexit.invlpg"] > 0
    # 2 MiB leaves replace many 4 KiB ones: fewer INVLPGs than with 4 KiB pages only
    assert large["os.invlpg"] < small["os.invlpg"]


def test_every_mechanism_counts_the_same_guest_invlpgs() -> None:
    counts = {m: _metrics(m, "2M")["os.invlpg"] for m in ("native", "nested", "pv-direct")}
    assert len(set(counts.values())) == 1, counts
