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
from codesign.mmu.cost import Costs
from codesign.platforms import load_platform
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


READ_ONLY = {"workload.read_modify_write": False, "workload.write_fraction": 0.0,
             "workload.footprint_mb": 128, "workload.refs": 80_000, "migration.memory_mb": 0}


def test_walks_dirty_the_guest_page_tables_they_read() -> None:
    """EPT A/D flags make a walk's reads of guest page-table entries writes (Intel SDM
    28.2.4): a guest that only reads still dirties the table pages its walks read, every
    round, so pre-copy cannot empty its dirty set -- with the flags off it converges at
    once."""
    off = migrate(**READ_ONLY, **{"migration.ept_ad": False})
    assert off["migration.table_pages"] == 0
    # everything, the first period's touches, nothing (fewer than 50: the last live round),
    # and nothing in the stop-and-copy
    assert off["migration.rounds"] == 4
    assert off["migration.downtime_ms"] == 0
    for logging in ("write-protect", "pml", "scan"):
        on = migrate(**READ_ONLY, **{"migration.logging": logging})
        # 128 MiB of 4 KiB pages: 64 leaf tables, the upper ones, the kernel's direct map --
        # more than the 50 pages under which Xen stops
        assert 64 + 3 <= on["migration.table_pages"] <= 64 + 3 + 8
        assert on["migration.rounds"] > off["migration.rounds"]
        assert on["migration.downtime_ms"] > 0
        assert on["migration.pages_sent"] > off["migration.pages_sent"]
    wp_off = migrate(**READ_ONLY, **{"migration.ept_ad": False})
    wp_on = migrate(**READ_ONLY)
    assert wp_on["traps.vmexit.ept_violation"] > wp_off["traps.vmexit.ept_violation"]


def test_table_reads_are_the_walks_guest_references() -> None:
    """The tap keeps exactly the guest-dimension references' pages, once per access."""
    from codesign.migration.mechanism import TableReads
    from codesign.mmu.nested import NestedParams
    from codesign.mmu.replay import replay

    events = stream("random", refs=5_000, footprint_mb=8)
    seen: list[tuple[int, int]] = []

    def monitor(pos, va, refs, addrs, dims) -> None:  # type: ignore[no-untyped-def]
        k = 0
        for p, n in zip(pos.tolist(), refs.tolist(), strict=True):
            seen.extend((p, a >> 12) for a, d in zip(addrs[k:k + n].tolist(),
                                                    dims[k:k + n].tolist(), strict=True)
                        if d == 0)
            k += n

    tap = TableReads()

    def both(*args) -> None:  # type: ignore[no-untyped-def]
        monitor(*args)
        tap(*args)

    replay(events, NestedParams().setup(nested=True), both)
    pos, page, n = tap.pairs()
    expected = sorted(set(seen))
    names = {pg: i for i, pg in enumerate(dict.fromkeys(pg for _, pg in expected))}
    assert list(zip(pos.tolist(), page.tolist(), strict=True)) == \
        [(p, names[pg]) for p, pg in expected]
    assert n == len(names) > 0


def test_pml_and_scanning_need_ept_dirty_flags() -> None:
    for logging in ("pml", "scan"):
        with pytest.raises(InputError, match=rf"migration\.ept_ad: {logging} needs EPT"):
            migrate(**{"migration.logging": logging, "migration.ept_ad": False})


def test_xens_skipping_of_pages_dirtied_again() -> None:
    """Off (QEMU's way) nothing is skipped; on, a guest rewriting its working set faster
    than the link sends it has pages skipped in its rounds, so fewer pages cross the link."""
    hot = {"workload.write_fraction": 0.5, "migration.link_gbps": 1.0}
    plain = migrate(**hot)
    xen = migrate(**hot, **{"migration.skip_redirtied": True})
    assert plain["migration.pages_skipped"] == 0
    assert xen["migration.pages_skipped"] > 0
    assert xen["migration.pages_sent"] < plain["migration.pages_sent"]


def test_huge_host_pages_are_split_when_logging_starts() -> None:
    """Eagerly: the VM's memory rewritten as 4 KiB entries before the first round, at
    migration.split_entry_cycles each. On fault: each page's first write an EPT violation
    (the exit and a page fault's work without zeroing) in place of its logging."""
    platform = load_platform("kvm-nehalem")
    clock = platform.value("cpu.clock_mhz") * 1e6
    wp = {"migration.logging": "write-protect"}
    eager = migrate(**wp, **{"host.page_size": "2M"})
    lazy = migrate(**wp, **{"host.page_size": "2M", "migration.split": "on-fault"})
    assert eager["migration.split_s"] == eager["migration.split_cpu_s"] \
        == eager["migration.memory_pages"] * 193 / clock
    assert eager["migration.split_faults"] == 0
    # every page the guest dirties is first written in the first round, and split then
    written = lazy["migration.dirty_pages"] + lazy["migration.table_pages"]
    assert lazy["migration.split_faults"] == written > 0
    assert lazy["migration.split_s"] == 0
    assert lazy["traps.vmexit.ept_violation"] == lazy["traps.total"] \
        == eager["traps.total"]  # a split fault instead of the first round's trap
    costs = Costs.of(platform)
    fault = platform.value("vmexit.kernel") + costs.fault - 4096 * costs.zero
    assert lazy["migration.split_cpu_s"] == pytest.approx(
        written * (fault - platform.value("vmexit.kernel")) / clock)
    pml = migrate(**{"migration.logging": "pml", "host.page_size": "2M",
                     "migration.split": "on-fault"})
    assert pml["traps.vmexit.ept_violation"] == pml["migration.split_faults"] == written
    assert pml["traps.total"] == written + pml["traps.vmexit.pml_full"]
    assert pml["migration.split_cpu_s"] == pytest.approx(written * fault / clock)


@pytest.mark.parametrize("params", [
    {"host.page_size": "4K"},  # nothing to split
    {"host.page_size": "2M", "migration.mmu": "shadow"},  # shadow entries are 4 KiB
    {"host.page_size": "2M", "migration.logging": "none"},  # no logging, no split
])
def test_no_split_without_huge_mappings_and_logging(params: dict[str, Any]) -> None:
    eager, lazy = (migrate(**params, **{"migration.split": s}) for s in ("eager", "on-fault"))
    assert eager == lazy
    assert eager["migration.split_s"] == eager["migration.split_faults"] \
        == eager["migration.split_cpu_s"] == 0


def test_a_split_guest_runs_on_4k_entries_while_logged() -> None:
    """Logged after a split, the guest's accesses cost what they cost on 4 KiB host pages
    (its backing exits still the huge pages'): GUPS over 64 MiB loses the huge pages' TLB
    reach, and that loss is part of the guest's slowdown."""
    gups = {"migration.logging": "pml", "host.prealloc": True, "workload.footprint_mb": 64}
    huge = migrate(**gups, **{"host.page_size": "2M"})
    small = migrate(**gups, **{"host.page_size": "4K"})
    unsplit = migrate(**{**gups, "migration.logging": "none"}, **{"host.page_size": "2M"})
    assert huge["migration.base_cycles_per_ref"] == unsplit["migration.base_cycles_per_ref"]
    assert huge["migration.logged_cycles_per_ref"] > huge["migration.base_cycles_per_ref"]
    assert small["migration.logged_cycles_per_ref"] == small["migration.base_cycles_per_ref"]
    # the walks are the 4 KiB replay's; the backing exits (one per 4 KiB page there) are not
    assert huge["migration.logged_cycles_per_ref"] < small["migration.base_cycles_per_ref"]
    lost = huge["migration.logged_cycles_per_ref"] / huge["migration.base_cycles_per_ref"]
    assert huge["migration.guest_slowdown"] > lost
