"""The table builder: entry format, table placement, huge pages, nested backing."""

from __future__ import annotations

import pytest

from hwmodels.pagewalk.tables import (
    NX,
    PAGE_1G,
    PAGE_2M,
    PS,
    FrameAllocator,
    Memory,
    NestedImage,
    PageTable,
    index,
)


def test_entries_land_at_concrete_addresses() -> None:
    mem = Memory()
    pt = PageTable.in_memory(mem, 4, FrameAllocator(0x100000))
    pt.map(0x40201000, 0x7000, writable=False, nx=True)
    # root, PDPT, PD, PT at consecutive frames; one entry each
    assert sorted(mem.words) == [0x100000 + 8 * index(0x40201000, 4), 0x101000 + 8 * 1,
                                 0x102000 + 8 * 1, 0x103000 + 8 * 1]
    leaf = mem.read(0x103008)
    assert leaf == 0x7000 | 1 | 4 | NX


def test_huge_pages_set_ps_and_stop_early() -> None:
    mem = Memory()
    pt = PageTable.in_memory(mem, 4, FrameAllocator(0x100000))
    pt.map(PAGE_1G, 3 * PAGE_1G, PAGE_1G)
    pt.map(2 * PAGE_1G + PAGE_2M, 5 * PAGE_2M, PAGE_2M)
    assert pt.translate(PAGE_1G + 0x12345) == (3 * PAGE_1G + 0x12345, PAGE_1G)
    assert pt.translate(2 * PAGE_1G + PAGE_2M + 8) == (5 * PAGE_2M + 8, PAGE_2M)
    assert mem.read(pt.entry_address(PAGE_1G, 3)) & PS
    with pytest.raises(ValueError, match="inside a larger page"):
        pt.map(PAGE_1G + 0x1000, 0x1000)
    with pytest.raises(ValueError, match="aligned"):
        pt.map(0x1000, 0x1000, PAGE_2M)


def test_guest_tables_live_where_the_host_table_maps_them() -> None:
    img = NestedImage(4, 4, host_page=PAGE_2M)
    img.map(0x5000, 0x600000)
    root_hpa = img.ept.translate(img.guest.root)[0]
    assert img.mem.read(root_hpa) & 1  # the guest root entry is in host memory
    assert img.ept.lookup(img.guest.root).size == PAGE_2M
    assert img.translate(0x5abc) == img.ept.translate(0x600abc)[0]


def test_unmap_clears_the_leaf() -> None:
    img = NestedImage(3, 3)
    img.map(0x3000, 0x9000)
    img.guest.unmap(0x3000)
    assert img.translate(0x3000) is None and img.guest.lookup(0x3000) is None
