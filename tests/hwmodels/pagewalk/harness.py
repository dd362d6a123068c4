"""Roles of the walker tests, named as in cocotb.

- **driver**: ``World`` (a memory image with a native table and a guest-on-host table pair,
  mapped pages of every size, holes and broken entries) and ``requests`` turning a seed or a
  hypothesis draw into a ``WalkBatch``;
- **reference**: ``PageWalkModel``, the golden model (itself checked against the tables'
  record of what was mapped, ``oracle``);
- **monitor**: ``WalkerSim`` recording the RTL's per-walk results and memory requests;
- **scoreboard**: ``assert_same_events``, comparing the two in order, request by request.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hwmodels.pagewalk import (
    NTLBParams,
    PWCParams,
    WalkBatch,
    WalkerParams,
    WalkEvents,
    WalkOp,
    WalkRequest,
)
from hwmodels.pagewalk.tables import (
    PAGE_SIZES,
    PS,
    SWITCH,
    FrameAllocator,
    NestedImage,
    PageTable,
    make_entry,
)

BAD_VM = 3
"""VM tag of walks through ``World.bad_eptp`` (its translations must not share tags)."""
AGILE_VM = 4
"""VM tag of agile walks (a walker with ``agile`` has at least 3 VM bits in these tests)."""
OFF = PWCParams(0)
NO_NTLB = NTLBParams(0, 0)


def uncached(p: WalkerParams) -> WalkerParams:
    """The same walker with every cache off."""
    return WalkerParams(p.guest_levels, p.host_levels, OFF, OFF, NO_NTLB, p.pa_bits,
                        p.vm_bits, p.asid_bits, p.agile)


@dataclass
class World:
    """One memory image: a native table, a guest table on a host table, and VAs worth walking.

    ``bad_eptp`` is a host table whose root entry 0 is broken (PS at level 4+: an EPT
    misconfiguration; not present at 2-3 levels: an EPT violation), walked as VM ``BAD_VM``.
    """

    img: NestedImage
    native: PageTable
    vas: list[int] = field(default_factory=list)
    bad_eptp: int = 0
    shadow: PageTable | None = None
    """A shadow table (host memory) of the guest-on-host pair, some of its entries switching
    to the guest's tables (agile paging), for walkers with ``agile``."""
    switches: dict[int, int] = field(default_factory=dict)
    """VA -> shadow level of the switch entry on its path (none: a shadow walk)."""

    @property
    def mem(self):
        return self.img.mem


def build_world(params: WalkerParams, seed: int, pages: int = 10,
                host_page: int | None = None, broken: bool = True) -> World:
    """A random world whose tables fit ``params`` (levels, address widths); with
    ``params.agile`` a shadow table too (:func:`build_shadow`); ``broken``: faulting entries
    (:func:`_break_things`)."""
    rng = random.Random(seed)
    ng, nh = params.guest_levels, params.host_levels
    if host_page is None:
        host_page = rng.choice([s for s in PAGE_SIZES[:nh - 1]])
    # Guest-physical space must stay inside the host walk's reach, host-physical inside pa_bits.
    reach = min(params.gpa_reach_bits, params.pa_bits)
    img = NestedImage(ng, nh, host_page, guest_base=0x200000, host_base=0x8000000)
    img.host_alloc.limit = 1 << params.pa_bits
    img.guest_alloc.limit = 1 << reach
    native = PageTable.in_memory(img.mem, ng, img.host_alloc)
    world = World(img, native, bad_eptp=img.host_alloc.alloc())
    if nh >= 4:
        img.mem.write(world.bad_eptp, make_entry(0) | PS)
    sizes = [s for s in PAGE_SIZES[:ng - 1]
             if s < 1 << reach - 2 and s <= 1 << (params.pa_bits - 4)]
    top = 1 << params.va_bits
    for _ in range(pages):
        size = rng.choice(sizes)
        # Cluster VAs in a few regions so upper-level tables are shared and caches matter.
        region = rng.choice([0, top // 2, top - (1 << min(30, params.va_bits - 2))])
        va = region + rng.randrange(0, 1 << 24) // size * size
        perms = {"writable": rng.random() < 0.7, "user": rng.random() < 0.7,
                 "nx": rng.random() < 0.3}
        try:
            img.map(va, img.guest_alloc.alloc(size), size, **perms)
            native.map(va, img.host_alloc.alloc(size), size, **perms)
        except (ValueError, MemoryError):
            continue  # overlaps a page of another size, or out of space: skip this page
        world.vas += [va, va + rng.randrange(size) // 8 * 8, va + size]  # + a neighbour
    world.vas.append(rng.randrange(top) & ~0xFFF)  # most likely unmapped at a high level
    if params.agile:
        build_shadow(world, rng)
    if broken:
        _break_things(world, rng)
    return world


def build_shadow(world: World, rng: random.Random, switch_rate: float = 0.5) -> None:
    """The hypervisor's shadow of the guest table (each guest page whose host page holds it
    whole, mapped straight to its host frame with the two dimensions' permissions), then,
    for about ``switch_rate`` of the pages, the shadow entry of a random level above the
    guest leaf rewritten to switch to the guest's table below it (agile paging)."""
    img = world.img
    ng = img.guest.levels
    shadow = PageTable.in_memory(img.mem, ng, img.host_alloc)
    for va, g in sorted(img.guest.mappings.items()):
        h = img.ept.lookup(g.pa)
        if h is None or h.size < g.size:
            continue
        try:
            shadow.map(va, h.pa + g.pa % h.size, g.size, writable=g.writable and h.writable,
                       user=g.user, nx=g.nx or h.nx)
        except (ValueError, MemoryError):
            continue
    for va, g in sorted(img.guest.mappings.items()):
        if rng.random() >= switch_rate:
            continue
        leaf = PAGE_SIZES.index(g.size) + 1
        if leaf + 1 > ng:
            continue
        level = rng.randrange(leaf + 1, ng + 1)  # the shadow entry that switches
        below = img.guest.entry_address(va, level - 1)
        slot = shadow.entry_address(va, level)
        if below is None or slot is None:
            continue
        img.mem.write(slot, make_entry(below & ~0xFFF) | SWITCH)
    world.shadow = shadow
    for va in world.vas:
        for level in range(ng, 1, -1):
            slot = shadow.entry_address(va, level)
            if slot is None:
                break
            if img.mem.read(slot) & SWITCH:
                world.switches[va] = level
                break


def _break_things(world: World, rng: random.Random) -> None:
    """Reserved PS bits and unbacked guest tables, to reach every fault kind."""
    img = world.img
    mapped = list(img.guest.mappings)
    if not mapped:
        return
    va = rng.choice(mapped)
    if img.guest.levels >= 4:
        # A reserved PS bit in the guest root entry of a fresh region.
        top = img.guest.levels
        bad_va = ((va >> (12 + 9 * (top - 1))) ^ 1) << (12 + 9 * (top - 1))
        addr = img.guest.entry_address(bad_va, top)
        if addr is not None and img.read_gpa(addr) == 0:
            img.write_gpa(addr, make_entry(0x200000) | PS)
            world.vas.append(bad_va)
    # Unback the level-1 guest table of one page: an EPT violation at step 1.
    m = img.guest.mappings[va]
    if m.size == PAGE_SIZES[0]:
        t = img.guest.entry_address(va, 1)
        if t is not None and img.ept.lookup(t) is not None and img.host_page == PAGE_SIZES[0]:
            img.ept.unmap(t - t % 4096)
            world.vas.append(va)


def requests(world: World, params: WalkerParams, n: int, seed: int,
             flush_rate: float = 0.05) -> WalkBatch:
    """A request mix: 2D walks of two VMs and two address spaces, native walks, flushes."""
    rng = random.Random(seed)
    out = []
    cr3, eptp, root = world.img.guest.root, world.img.ept.root, world.native.root
    mask = (1 << params.va_bits) - 1
    for _ in range(n):
        r = rng.random()
        va = rng.choice(world.vas) & mask
        vm, asid = rng.choice([1, 1, 1, 2]), rng.choice([0, 0, 1])
        if r < flush_rate:
            if world.shadow is not None and rng.random() < 0.3:
                vm = AGILE_VM
            kind = rng.choice([WalkOp.FLUSH_ALL, WalkOp.FLUSH_VM, WalkOp.FLUSH_ASID,
                               WalkOp.FLUSH_ASID])
            out.append(WalkRequest(kind, vm=vm, asid=asid))
        elif r < 0.25:
            out.append(WalkRequest.native(va, root, vm=0, asid=asid))
        elif r < 0.28:
            out.append(WalkRequest.nested(va, cr3, world.bad_eptp, vm=BAD_VM, asid=asid))
        elif world.shadow is not None and r < 0.55:
            out.append(WalkRequest.agile(va, world.shadow.root, eptp, vm=AGILE_VM, asid=asid))
        else:
            out.append(WalkRequest.nested(va, cr3, eptp, vm=vm, asid=asid))
    return WalkBatch.from_requests(out)


def oracle(world: World, req: WalkRequest) -> tuple[int, int, int] | None:
    """(4 KiB frame, size class, perms) from the builders' records of what was mapped."""
    img = world.img
    if req.op == WalkOp.NESTED and req.eptp == world.bad_eptp:
        return None
    if req.op == WalkOp.NATIVE:
        m = world.native.lookup(req.va)
        if m is None:
            return None
        pa = m.pa + req.va % m.size
        return pa >> 12, PAGE_SIZES.index(m.size), _perms(m.writable, not m.nx, m.user)
    g = img.guest.lookup(req.va)
    if g is None:
        return None
    gpa = g.pa + req.va % g.size
    h = img.ept.lookup(gpa)
    if h is None:
        return None
    pa = h.pa + gpa % h.size
    size = min(PAGE_SIZES.index(g.size), PAGE_SIZES.index(h.size))
    return pa >> 12, size, _perms(g.writable and h.writable, not (g.nx or h.nx), g.user)


def _perms(w: bool, x: bool, u: bool) -> int:
    return 1 | 2 * w | 4 * x | 8 * u


def assert_same_events(reqs: WalkBatch, expected: WalkEvents, actual: WalkEvents,
                       label: str) -> None:
    """Scoreboard: identical events and reference sequences, or the first difference."""
    i = expected.first_difference(actual)
    if i is None:
        return
    lo = max(0, i - 4)
    context = "\n".join(f"  {j}: {reqs.row(j)}" for j in range(lo, i))
    raise AssertionError(
        f"{label}: events differ at request {i} of {len(reqs)}\n"
        f"preceding requests:\n{context}\n"
        f"request:   {reqs.row(i) if i < len(reqs) else None}\n"
        f"reference: {expected.row(i) if i < len(expected) else None}\n"
        f"design:    {actual.row(i) if i < len(actual) else None}"
    )


__all__ = ["AGILE_VM", "BAD_VM", "FrameAllocator", "World", "assert_same_events",
           "build_shadow", "build_world", "oracle", "requests", "uncached"]
