"""The second-level TLB by page size (issue 12): 2 MiB entries in the shared array where the
core has them (``tlb.l2.2m``, Haswell and later), none on Nehalem, 1 GiB entries in their own
array; a size the STLB does not hold bypasses it."""

from __future__ import annotations

import numpy as np

from codesign.hardware import STLBKeys
from codesign.mmu.guest import GuestConfig
from codesign.mmu.replay import Replay, Setup, drive, stlb_2m_key
from hwmodels.pagewalk import WalkerParams
from hwmodels.tlb import TLBParams
from workloads.memory.events import Prot, StreamBuilder, validate

BASE = 0x4000_0000
PAGES_2M = 40
"""More 2 MiB pages than the L1's 2 MiB array holds in a set (32 entries, 8 sets x 4 ways:
five pages a set), fewer than the STLB holds."""


def _stream(passes: int = 3, protect: bool = False) -> np.ndarray:
    b = StreamBuilder()
    b.spawn(1)
    b.switch(1)
    b.map(BASE, pages=PAGES_2M * 512, prot=Prot.READ | Prot.WRITE)
    for p in range(passes):
        for i in range(PAGES_2M):
            b.access(BASE + (i << 21) + 64 * p, write=p == 0)
        if protect and p == 0:
            b.protect(BASE, pages=512, prot=Prot.READ)  # one 2 MiB leaf changes
    events = b.build()
    validate(events)
    return events


def _replay(events: np.ndarray, **keys: object) -> Replay:
    k = STLBKeys(**keys)  # type: ignore[arg-type]
    r = Replay(Setup(GuestConfig(huge="2M"), TLBParams(), WalkerParams(), nested=False,
                     stlb=k.to_hw(), stlb_2m=k.l2_2m))
    drive(r, events)
    return r


def test_2m_pages_hit_the_stlb_when_it_holds_them() -> None:
    r = _replay(_stream())
    c = r.c
    assert c.faults_demand == PAGES_2M  # 2 MiB pages: one fault each
    # every access misses the L1 (five pages per 4-way set, cyclic); the first pass walks,
    # the later ones hit the STLB
    assert c.tlb_misses == 3 * PAGES_2M
    assert c.l2_misses == PAGES_2M and c.l2_hits == 2 * PAGES_2M


def test_without_2m_entries_2m_pages_bypass_the_stlb() -> None:
    """Nehalem: the STLB holds 4 KiB pages only, so a 2 MiB page missing the L1 walks; it is
    not held splintered either."""
    c = _replay(_stream(), l2_2m=False).c
    assert c.l2_hits == 0 and c.l2_misses == c.tlb_misses == 3 * PAGES_2M


def test_a_changed_2m_leaf_leaves_the_stlb() -> None:
    """An INVLPG of a 2 MiB leaf drops its STLB entry (held under its size-bit key): the next
    access to that page walks again, the others still hit."""
    c = _replay(_stream(protect=True)).c
    assert c.invlpg == 1
    assert c.l2_misses == PAGES_2M + 1


def test_4k_and_2m_entries_share_the_array() -> None:
    """A 2 MiB entry takes a way of the shared array: a 1-set, 1-way STLB holds one entry of
    either size, so a 4 KiB page and a 2 MiB page evict each other."""
    r = Replay(Setup(GuestConfig(), TLBParams(), WalkerParams(), nested=False,
                     stlb=STLBKeys(l2_entries=1, l2_ways=1, l2_1g_entries=0).to_hw(),
                     stlb_2m=True))
    va = np.array([0x1000, 0x20_0000, 0x1000, 0x1000], dtype=np.int64)
    klass = np.array([0, 1, 0, 0])
    ones = np.ones(4, dtype=np.int64)
    hits = [bool(r._stlb(va[i:i + 1], ones[:1], ones[:1], klass[i:i + 1], 0, 0)[0])
            for i in range(4)]
    assert hits == [False, False, False, True]


def test_1g_pages_use_their_own_array_or_bypass() -> None:
    va = np.array([0x4000_0000, 0x4000_0000], dtype=np.int64)
    klass = np.array([2, 2])
    ones = np.ones(2, dtype=np.int64)
    with_1g = Replay(Setup(GuestConfig(), TLBParams(), WalkerParams(), nested=False,
                           stlb=STLBKeys().to_hw(), stlb_2m=True))
    assert with_1g._stlb(va, ones, ones, klass, 0, 0).tolist() == [False, True]
    without = Replay(Setup(GuestConfig(), TLBParams(), WalkerParams(), nested=False,
                           stlb=STLBKeys(l2_1g_entries=0).to_hw(), stlb_2m=True))
    assert without._stlb(va, ones, ones, klass, 0, 0).tolist() == [False, False]


def test_the_size_bit_keeps_2m_keys_apart_from_user_pages() -> None:
    keys = stlb_2m_key(np.array([0, 0x1FFFFF, 0x200000, (1 << 47) - 1]))
    assert (keys >= 1 << 47).all() and (keys < 1 << 48).all()
    assert keys[0] == keys[1] != keys[2]
