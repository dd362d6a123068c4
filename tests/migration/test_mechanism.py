"""The ``precopy`` mechanism (issue 16): dirty logging bound to the MMU mechanisms, metrics
that move the right way, bad combinations refused before any work."""

from __future__ import annotations

from typing import Any

import pytest

from codesign.errors import InputError
from codesign.harness import Point, evaluate
from codesign.metrics import Metrics
from codesign.migration.mechanism import dirty_stream
from codesign.migration.precopy import RECORD_BYTES
from codesign.registry import default_registry
from tests.conftest import run_cli
from tests.mmu.conftest import stream

BASE = {"workload.refs": 40_000, "workload.footprint_mb": 8, "hw.cost": False,
        "migration.memory_mb": 256}


def migrate(workload: str = "random", **params: Any) -> Metrics:
    return evaluate(Point(workload, "precopy", params={**BASE, **params}))


@pytest.fixture(scope="module")
def modes() -> dict[str, Metrics]:
    return {f"{mmu}/{logging}": migrate(**{"migration.mmu": mmu, "migration.logging": logging})
            for mmu, logging in (("nested", "write-protect"), ("nested", "pml"),
                                 ("nested", "scan"), ("nested", "none"),
                                 ("shadow", "write-protect"))}


def test_each_logging_mode_traps_as_it_should(modes: dict[str, Metrics]) -> None:
    wp, pml, scan = modes["nested/write-protect"], modes["nested/pml"], modes["nested/scan"]
    assert wp["traps.vmexit.ept_violation"] == wp["traps.total"] > 0
    assert modes["shadow/write-protect"]["traps.vmexit.page_fault"] > 0
    # one exit per 512 dirty pages, against one per page
    assert 0 < pml["traps.vmexit.pml_full"] < wp["traps.total"] / 100
    assert scan["traps.total"] == 0
    assert wp["migration.guest_slowdown"] > pml["migration.guest_slowdown"] \
        > scan["migration.guest_slowdown"] >= 1.0


def test_the_same_pages_cross_the_link(modes: dict[str, Metrics]) -> None:
    """Logging changes what the guest pays, not (here, where the guest outruns the link
    whatever it pays) which pages are sent."""
    first = modes["nested/write-protect"]
    assert first["migration.memory_pages"] == 256 * 256  # 256 MiB of 4 KiB pages
    assert first["migration.pages_sent"] > first["migration.memory_pages"]
    none = modes["nested/none"]
    assert none["migration.rounds"] == 2
    assert none["migration.pages_sent"] == none["migration.memory_pages"] \
        + none["migration.dirty_pages"]


def test_a_faster_link_migrates_faster() -> None:
    slow = migrate(**{"migration.link_gbps": 1.0})
    fast = migrate(**{"migration.link_gbps": 40.0})
    assert fast["migration.total_s"] < slow["migration.total_s"]
    assert fast["migration.downtime_ms"] < slow["migration.downtime_ms"]


def test_pml_and_scanning_need_nested_paging() -> None:
    with pytest.raises(InputError, match=r"migration\.logging: pml needs EPT dirty flags"):
        migrate(**{"migration.mmu": "shadow", "migration.logging": "pml"})
    # the PML unit's geometry is checked whether or not its cost is asked for
    with pytest.raises(InputError, match=r"pml\.entries: expected a power of two"):
        migrate(**{"migration.logging": "pml", "pml.entries": 500})


def test_the_pml_unit_is_costed() -> None:
    m = migrate(**{"migration.logging": "pml", "hw.cost": True, "pml.entries": 64})
    assert m["hw.pml.register_bits"] == 1 + 16 + 40
    assert m["hw.pml.area_mm2"] > 0


def test_dirty_stream_of_a_fork_loop() -> None:
    """The first period dirties every page it touches or writes; the later ones, the pages
    they write."""
    events = stream("forkwait", iterations=5, child_pages=4, heap_pages=16)
    d = dirty_stream(events)
    assert 0 < d.written <= d.touched and len(d.pos) <= len(d.first_pos) <= d.accesses
    assert d.first_page.max() == d.written - 1
    assert set(d.page.tolist()) <= set(d.first_page.tolist())


def test_listed_and_run_from_the_command_line() -> None:
    assert "precopy" in default_registry().mechanisms
    done = run_cli("run", "--workload", "random", "--mechanism", "precopy",
                   "--set", "workload.refs=5000", "--set", "workload.footprint_mb=1",
                   "--set", "hw.cost=false")
    assert done.returncode == 0, done.stderr
    assert "migration.downtime_ms" in done.stdout


def test_devices_during_migration() -> None:
    """A pass-through NIC without IOMMU dirty tracking makes every round send all of memory
    and the downtime its whole transfer; a paravirtual NIC's backend logs the receive buffers
    it writes, so they join the dirty set; dirty tracking in the IOMMU costs a scan per
    round."""
    calm = {"workload.write_fraction": 0.001, "workload.read_modify_write": False,
            "migration.link_gbps": 10.0, "migration.logging": "pml", "migration.rx_gbps": 10.0}
    out = {dev: migrate(**calm, **{"migration.device": dev})
           for dev in ("none", "pv", "passthrough", "passthrough-dirty")}
    memory = out["none"]["migration.memory_pages"]
    full = memory * RECORD_BYTES * 8 / 10e9 * 1e3  # ms to send all of memory at 10 Gb/s
    assert out["passthrough"]["migration.downtime_ms"] == pytest.approx(full, rel=0.01)
    assert out["passthrough"]["migration.pages_sent"] >= 4 * memory
    assert out["none"]["migration.device_pages"] == 0 < out["pv"]["migration.device_pages"]
    assert out["none"]["migration.downtime_ms"] < out["pv"]["migration.downtime_ms"] < full / 100
    assert out["pv"]["migration.downtime_ms"] <= out["passthrough-dirty"]["migration.downtime_ms"]


def test_a_paravirtual_guest_is_logged_by_xens_log_dirty_mode() -> None:
    pv = migrate(**{"migration.mmu": "pv-direct", "migration.logging": "pv-logdirty"})
    wp = migrate(**{"migration.mmu": "nested", "migration.logging": "write-protect"})
    assert pv["traps.fault.log_dirty"] == pv["traps.total"] > 0
    # the same dirty stream, a fault into Xen per page per round
    assert pv["migration.dirty_pages"] == wp["migration.dirty_pages"]
    for mmu, logging in (("pv-direct", "write-protect"), ("nested", "pv-logdirty"),
                         ("pv-direct", "pml")):
        with pytest.raises(InputError, match=r"migration\.logging: "):
            migrate(**{"migration.mmu": mmu, "migration.logging": logging})
