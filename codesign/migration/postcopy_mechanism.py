"""``postcopy``: post-copy live migration of a VM running a memory workload (Hines, Deshpande
and Gopalan, SIGOPS OSR 2009; Hines and Gopalan, VEE 2009) under nested, shadow or
paravirtual paging.

The binding is ``precopy``'s (:mod:`codesign.migration.mechanism`): the MMU mechanism
(``migration.mmu``) replays the workload once, as it would without migration, for the guest's
cycles per access on the platform; the workload's accesses, one period of them repeated for
as long as the migration lasts, are what the guest asks of its memory. The VM switches over
after ``migration.switch_at`` of a period's accesses (the pages it touched before exist on
the source) and resumes on the destination with none of its memory; the post-copy engine
(:mod:`codesign.migration.postcopy`) pushes every page once over ``migration.link_gbps``
while the guest's accesses to pages not there yet fault across the network, each a round
trip of ``migration.latency_us`` each way and the page's time on the link, plus the trap:

- under nested paging an EPT violation (``vmexit.kernel``: the host finds the page missing
  and hands the fault to the migration thread, as KVM's post-copy does through
  userfaultfd);
- under shadow paging the shadow fault's exit (``vmexit.page_fault``, the same cost);
- a paravirtual guest takes the fault in its own kernel and asks for the page over an event
  channel (``fault.remote``: ``hypercall.null``), as Hines et al.'s Xen implementation did
  with a pseudo-paging device in the guest.

**Page numbering.** The source pushes in pfn order. The pages the workload touches come first,
in the order it first touches them -- the guest model's frame allocator hands out frames in
that order from the bottom of guest-physical memory (:mod:`codesign.mmu.guest`) -- and the
rest of ``migration.memory_mb`` after them. A page is identified by its address space and
virtual page, as in ``precopy``. ``migration.prepaging``: ``pivot`` moves the push past
each network fault (Hines et al.'s bubbling, forward only); ``none`` keeps pfn order.

**Huge host pages** (``host.page_size`` 2M or 1G: guest memory backed by hugetlbfs). The
destination can map a huge page only whole (QEMU gathers its pieces and places it at once
with userfaultfd), so a fault waits for the whole host page: the unit the push and the
faults move is the host page, ``per`` guest pages crossing the link back to back (QEMU's
postcopy documentation: 2 MiB pages work well, but a 1 GiB page takes about a second over
10 Gb/s and the faulting thread is blocked until it is all there). Guest pages fill host
pages in first-touch order, as the frame allocator hands them out, and the VM's memory is
rounded up to whole host pages (a huge page is allocated, and sent, whole);
``migration.remote_fault_ratio`` counts network faults per host page of the working set and
``migration.fault_wait_ms`` is a fault's mean wait.

Simplifications (each a limitation, not a fit): the guest's cycles per access are the
replay's average (``cycles.total / refs``); the guest's page-table pages, which its walks
read, are not in the stream of pages it asks for (about 1 in 512 of its pages); the
downtime is ``migration.resume_ms`` alone (the CPU and device state's transfer is not
modelled), as ``precopy``'s is its last round's pages plus that; the link carries nothing
but pages and the requests' latency; the guest waits out each network fault, where KVM's
asynchronous page faults let a guest schedule another of its tasks meanwhile (the kernel's
userfaultfd documentation), so a guest with other work to run loses less than the stalls
here.

Metrics: ``migration.total_s`` (the downtime and the push, to the last page's arrival),
``migration.downtime_ms``, ``migration.rounds`` (1), ``migration.pages_sent`` and
``migration.bytes_sent`` (every page once), ``migration.remote_faults`` (network-bound
faults), ``migration.waits`` (faults on pages already on their way),
``migration.remote_fault_ratio`` (network faults per page of the working set: Hines et al.'s
measure of prepaging), ``migration.stall_ms`` (the guest's time lost waiting),
``migration.fault_wait_ms`` (its mean per fault),
``migration.guest_slowdown`` (the guest's time to do a push's length of work over that
length: ``1 + stall / push``),
``migration.touched_pages``, ``migration.memory_pages``, ``migration.base_cycles_per_ref``,
and the traps by reason.

>>> from codesign.harness import Point, evaluate
>>> p = {"workload.refs": 20000, "workload.footprint_mb": 2, "hw.cost": False,
...      "migration.memory_mb": 64}
>>> post = evaluate(Point("random", "postcopy", params=p))
>>> pre = evaluate(Point("random", "precopy", params=p))
>>> post["migration.pages_sent"] == post["migration.memory_pages"] == 64 * 256
True
>>> post["migration.total_s"] < pre["migration.total_s"]   # each page once
True
>>> 0 < post["migration.remote_faults"] <= post["migration.touched_pages"]
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.metrics import Metrics
from codesign.migration import mechanism as precopy_mechanism
from codesign.migration.mechanism import (
    SPILL_ABOVE,
    FirstSeen,
    TransferParams,
    guest_run,
    page_keys,
)
from codesign.migration.postcopy import PREPAGING, postcopy
from codesign.migration.precopy import PAGE_BYTES, RECORD_BYTES
from codesign.mmu.guest import HOST_PAGES
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism
from codesign.spill import Spill
from workloads.memory.chunked import Stream, pieces
from workloads.memory.events import Ev


@dataclass(frozen=True)
class PostcopyParams(TransferParams):
    """Parameters of ``postcopy``: the MMU mechanisms', the link and the VM's memory (as
    ``precopy``'s), plus post-copy's own."""

    latency_us: float = param(
        50.0, key="migration.latency_us", min=0.0, max=1e7, unit="µs",
        doc="one-way latency of a page request and of a page, beyond its time on the link "
            "(assumption: 50, half of a LAN round trip of about 100 µs through the "
            "destination's fault path and the source's migration thread; no published "
            "per-request figure at hand)")
    prepaging: str = param("pivot", key="migration.prepaging", choices=PREPAGING,
                           doc="the push order after a network fault: pivot (on from the "
                               "page after the faulted one: Hines et al.'s bubbling, "
                               "forward only) or none (pfn order throughout)")
    switch_at: float = param(0.5, key="migration.switch_at", min=0.0, max=0.999,
                             doc="fraction of one period of the workload's accesses run "
                                 "before the switch-over")


def pages_in_order(events: Stream) -> tuple[np.ndarray, int]:
    """Per access of a memory workload its page, numbered ``0 ..`` in order of first touch
    (address space and virtual page), and how many there are.

    >>> from workloads.memory.events import StreamBuilder
    >>> b = StreamBuilder(); b.spawn(1); b.switch(1); b.map(0x10000, pages=3)
    >>> for va in (0x12000, 0x10000, 0x12008, 0x11000): b.access(va)
    >>> page, n = pages_in_order(b.build()); page.tolist(), n
    ([0, 1, 0, 2], 3)
    """
    numbers = FirstSeen()
    pages = Spill(np.int64, SPILL_ABOVE)
    for piece in pieces(events):
        pages.add(numbers.number(page_keys(piece[piece["op"] == Ev.ACCESS]))[0])
    return pages.array(), numbers.count


REASONS = {"nested": "vmexit.ept_violation", "shadow": "vmexit.page_fault",
           "pv-direct": "fault.remote"}
"""The trap a fault on a missing page is, by ``migration.mmu``."""


def run(events: Stream, p: PostcopyParams, platform: Platform) -> Metrics:
    """Metrics of migrating, post-copy, a VM that runs ``events``."""
    mmu = guest_run(events, p, platform)
    refs = mmu["refs"]
    cpa = mmu["cycles.total"] / refs if refs else 1.0
    clock = platform.value("cpu.clock_mhz") * 1e6
    trap = platform.value("hypercall.null" if p.mmu == "pv-direct" else "vmexit.kernel")
    page, touched = pages_in_order(events)
    memory = max(p.memory_mb * (1 << 20) // PAGE_BYTES, touched)
    # The unit a fault waits for is the host's page: guest pages sit in guest-physical
    # memory in first-touch order, so host page k holds pages k*per .. (k+1)*per - 1.
    per = HOST_PAGES[p.host_page] // PAGE_BYTES
    units = -(-memory // per)
    held = -(-touched // per)
    r = postcopy(page // per if per > 1 else page, int(p.switch_at * len(page)), units, held,
                 max(cpa, 1e-9) / clock, per * RECORD_BYTES * 8 / (p.link_gbps * 1e9),
                 p.latency_us * 1e-6, trap / clock, p.prepaging == "pivot")
    traps = r.remote_faults + r.waits
    downtime = p.resume_ms / 1e3
    return Metrics({
        "migration.total_s": downtime + r.push_s,
        "migration.downtime_ms": downtime * 1e3,
        "migration.rounds": 1,
        "migration.pages_sent": units * per,
        "migration.bytes_sent": units * per * RECORD_BYTES,
        "migration.guest_slowdown": r.guest_slowdown,
        "migration.base_cycles_per_ref": cpa,
        "migration.memory_pages": units * per,
        "migration.touched_pages": touched,
        "migration.remote_faults": r.remote_faults,
        "migration.waits": r.waits,
        "migration.remote_fault_ratio": r.remote_faults / held,
        "migration.stall_ms": r.stall_s * 1e3,
        "migration.fault_wait_ms": r.stall_s * 1e3 / traps if traps else 0.0,
        "traps.total": traps,
        f"traps.{REASONS[p.mmu]}": traps,
    })


HEADLINE = ("migration.total_s", "migration.downtime_ms", "migration.guest_slowdown",
            "migration.remote_faults")

MECHANISM = Mechanism(
    name="postcopy",
    accepts=("memory",),
    summary="post-copy live migration (Hines et al., VEE 2009): switch over first, then push "
            "every page once while the guest's accesses to missing pages fault across the "
            "network; under nested, shadow or paravirtual paging",
    params=PostcopyParams,
    run=run,
    costs=precopy_mechanism.MECHANISM.costs,
    headline=HEADLINE,
    hardware=("tlb", "stlb", "walker"),
    version="2",
)
