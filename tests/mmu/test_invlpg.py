"""How a guest's TLB invalidations are counted: one INVLPG per changed leaf, whatever its
size (Intel SDM Vol. 3A, INVLPG drops the translation of the whole page holding the
address), and a full flush instead once a range spans more than Linux's
``tlb_single_page_flush_ceiling`` (33) pages."""

from __future__ import annotations

import numpy as np
import pytest

from codesign.mmu.guest import FLUSH_CEILING
from tests.mmu.test_shadow_pv import BASE, RW, events_metrics
from workloads.memory.events import Prot, StreamBuilder

HUGE = 0x4000_0000  # 2 MiB aligned


def _protect_huge(leaves: int, protect: bool) -> np.ndarray:
    """A process populates ``leaves`` 2 MiB pages (one touch each), then (if ``protect``)
    write-protects all of them in one mprotect."""
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(HUGE, leaves * 512, RW)
    b.accesses(np.uint64(HUGE) + np.arange(leaves, dtype=np.uint64) * np.uint64(2 << 20), 1)
    if protect:
        b.protect(HUGE, leaves * 512, Prot.READ)
    return b.build()


def _delta(events: object, mechanism: str, name: str, **values: object) -> int:
    with_, without = (events_metrics(events(p), mechanism, **values) for p in (True, False))
    return with_.get(name, 0) - without.get(name, 0)


@pytest.mark.parametrize("leaves", [1, 3])
def test_a_2m_leaf_costs_one_invlpg_not_512(leaves: int) -> None:
    def events(p: bool) -> np.ndarray:
        return _protect_huge(leaves, p)

    for mechanism in ("native", "nested", "pv-direct", "shadow"):
        assert _delta(events, mechanism, "os.invlpg", **{"guest.huge_pages": "2M"}) == leaves
    # the guest's INVLPGs are what shadow paging traps
    assert _delta(events, "shadow", "traps.vmexit.invlpg", **{"guest.huge_pages": "2M"}) \
        == leaves


@pytest.mark.parametrize("pages", [FLUSH_CEILING, FLUSH_CEILING + 1, 100])
def test_past_the_ceiling_a_range_is_one_flush(pages: int) -> None:
    def events(p: bool) -> np.ndarray:
        b = StreamBuilder()
        b.spawn(1)
        b.switch(1)
        b.map(BASE, pages, RW)
        b.accesses(np.uint64(BASE) + np.arange(pages, dtype=np.uint64) * np.uint64(4096), 1)
        if p:
            b.unmap(BASE, pages)
        return b.build()

    beyond = pages > FLUSH_CEILING
    assert _delta(events, "native", "os.invlpg") == (0 if beyond else pages)
    assert _delta(events, "native", "os.tlb_flushes") == (1 if beyond else 0)
    assert _delta(events, "shadow", "traps.vmexit.invlpg") == (0 if beyond else pages)
    assert _delta(events, "shadow", "traps.vmexit.cr3_write") == (1 if beyond else 0)
