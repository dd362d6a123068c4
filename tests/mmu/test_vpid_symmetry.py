"""``tlb.vpid`` means the same under every hypervisor mechanism (issue 12): without VPIDs,
every VM exit and entry flushes the TLB, under shadow paging as under nested paging; the
native machine has no exits."""

from __future__ import annotations

import pytest

from codesign.harness import Point, evaluate

CHURN = {"workload.cycles": 40, "hw.cost": False}


def run(mechanism: str, vpid: bool, workload: str = "mmap-churn",
        params: dict | None = None) -> dict:
    p = {**(params or CHURN), "tlb.vpid": vpid}
    return dict(evaluate(Point(workload, mechanism, params=p)))


@pytest.mark.parametrize("mechanism", ["shadow", "nested"])
def test_without_vpid_every_exit_flushes(mechanism: str) -> None:
    on, off = run(mechanism, True), run(mechanism, False)
    assert off["traps.total"] == on["traps.total"]  # the same exits...
    assert off["traps.total"] > 0
    # ...each one a flush more (shadow: a fault's several exits at one access flush the
    # TLB once, and are counted each)
    assert off["os.tlb_flushes"] - on["os.tlb_flushes"] == off["traps.total"]
    assert off["tlb.l1.misses"] > on["tlb.l1.misses"]


def test_native_has_no_exits_to_flush_on() -> None:
    on, off = run("native", True), run("native", False)
    assert on["tlb.l1.misses"] == off["tlb.l1.misses"]
    assert on["os.tlb_flushes"] == off["os.tlb_flushes"]


def test_shadow_without_vpid_costs_more_than_with() -> None:
    on, off = run("shadow", True), run("shadow", False)
    assert off["cycles.total"] > on["cycles.total"]
    assert off["walks"] > on["walks"]
