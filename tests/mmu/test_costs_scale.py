"""Costs that scale with the page (issue 12): a 2 MiB fault zeroes 2 MiB, a 2 MiB backing
clears 2 MiB on the host, whatever mechanism pays for it."""

from __future__ import annotations

import pytest

from codesign.harness import Point, evaluate
from codesign.platforms import load_platform

P = load_platform("kvm-nehalem")
FAULT, ZERO, EXIT = (P.value(k) for k in ("fault.page", "memory.zero_per_byte",
                                          "vmexit.kernel"))
SEQ = {"workload.refs": 4096, "workload.footprint_mb": 8, "workload.element_bytes": 4096,
       "hw.cost": False}


def run(mechanism: str, **params: object) -> dict:
    return dict(evaluate(Point("sequential", mechanism, params={**SEQ, **params})))


@pytest.mark.parametrize("huge", ["none", "2M"])
def test_a_fault_costs_what_its_page_size_zeroes(huge: str) -> None:
    m = run("native", **{"guest.huge_pages": huge})
    size = 4096 if huge == "none" else 2 << 20
    per_fault = m["cycles.os.fault"] / m["faults.page"]
    assert per_fault == pytest.approx(FAULT + (size - 4096) * ZERO)
    assert m["faults.page"] == (8 << 20) // size


def test_a_2m_fault_is_the_same_work_as_512_4k_ones_give_or_take_the_entries() -> None:
    """Zeroing 2 MiB once or 4 KiB 512 times: the bytes are the same, the 511 kernel entries
    and PTE writes are what large pages save."""
    small = run("native")["cycles.os.fault"]
    large = run("native", **{"guest.huge_pages": "2M"})["cycles.os.fault"]
    assert large < small
    assert small - large == pytest.approx(4 * 511 * (FAULT - 4096 * ZERO))


@pytest.mark.parametrize(("host", "size"), [("4K", 4096), ("2M", 2 << 20)])
def test_an_ept_violation_costs_its_exit_and_the_host_page_it_backs(host: str,
                                                                   size: int) -> None:
    m = run("nested", **{"host.page_size": host})
    n = m["traps.vmexit.ept_violation"]
    assert n > 0
    assert m["cycles.traps.vmexit.ept_violation"] / n == pytest.approx(
        EXIT + FAULT + (size - 4096) * ZERO)


def test_shadow_pays_the_host_backing_too() -> None:
    """KVM's shadow MMU backs guest memory inside the faults that first touch it: the same
    host work as nested paging's EPT violations with 4 KiB host pages."""
    shadow = run("shadow")
    nested = run("nested")
    backing = FAULT
    assert shadow["cycles.traps.vmexit.page_fault"] >= nested["traps.vmexit.ept_violation"] \
        * backing


@pytest.mark.parametrize("mechanism", ["nested", "shadow", "selective", "agile"])
def test_preallocated_memory_keeps_the_exits_and_drops_the_host_faults(mechanism: str) -> None:
    """``host.prealloc``: the host populated guest memory before the run (QEMU
    -mem-prealloc), as Xen does for a paravirtual domain: first touches still exit to map
    the page, but the host's own fault behind each is gone."""
    lazy = run(mechanism)
    pre = run(mechanism, **{"host.prealloc": True})
    assert pre["traps.total"] == lazy["traps.total"] > 0
    backed = lazy.get("shadow.backings", 0) + lazy.get("traps.vmexit.ept_violation", 0)
    if mechanism == "agile":  # inside its hidden faults or its EPT violations: all of them
        backed = lazy["agile.backings"]
    assert backed > 0
    assert lazy["cycles.total"] - pre["cycles.total"] == pytest.approx(backed * FAULT)


def test_pv_direct_and_native_have_no_prealloc_key() -> None:
    """Xen always populates a paravirtual domain up front; native has no host."""
    from codesign.params import specs
    from codesign.registry import default_registry

    for name in ("native", "pv-direct"):
        keys = {s.key for s in specs(default_registry().mechanism(name).params)}
        assert "host.prealloc" not in keys
