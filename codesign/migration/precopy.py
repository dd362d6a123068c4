"""Pre-copy live migration (Clark et al., NSDI 2005): rounds of sending the pages dirtied
during the previous round, then a stop-and-copy round with the guest paused.

The engine is a compiled loop over the guest's writes in time order. The guest runs a memory
workload; its writes (one period of them, repeated for as long as the migration lasts) are
given as (access index, page) pairs with the guest's cycles per access, so a write at access
``i`` of period ``q`` happens at ``((q * period + i) * cycles_per_access + extra) / clock``
seconds into the migration, where ``extra`` is the cycles dirty logging has cost the guest so
far (its traps and per-round stalls): a guest slowed by logging dirties memory more slowly.

**Rounds.** Round 1 sends all ``memory_pages`` of the VM; round ``k > 1`` sends the pages
dirtied during round ``k - 1``. A round lasts as long as its pages take on the link (each
page a 4 KiB frame plus an 8-byte record of its frame number and type, as Xen's
``xc_domain_save`` writes ``pfn_type[]`` ahead of each batch's pages). A page written several
times in a round is sent once in the next.

**When to stop** (Xen's ``xc_linux_save`` / ``xc_domain_save``, the implementation Clark et al.
measured): after a live round, the stop-and-copy round starts when the round sent more pages
than the one before it while the link ran at its top rate (the dirty rate is outrunning it:
2005's ``mbit_rate == MAX_MBIT_RATE``; this model has no rate limiting, so its link always runs
at ``link_bps``), when ``max_rounds - 1`` live rounds are done (``DEF_MAX_ITERS`` 29: "limit us
to 30 times round loop"), when the round sent (or skipped) fewer than ``stop_pages`` pages (50:
``sent_this_iter+skip_this_iter < 50``), or when more than ``max_factor`` (``DEF_MAX_FACTOR``
3) times the VM's memory has been sent. Xen decides before it reads the dirty log
(``XEN_DOMCTL_SHADOW_OP_CLEAN`` follows the test), so the stop-and-copy round sends what the
last live round dirtied, with the guest paused: the downtime is its transfer time plus
``resume_s`` (CPU and device state, the switch-over; not modelled by default). Xen also skips,
within a round, pages dirtied again since the round began ("to_skip"); the engine does not by
default (QEMU, KVM's migration, sends each round's synced bitmap as it is); with ``skip`` it
does as ``xc_domain_save`` does: it goes through the pages in pfn order (here the dirty
stream's page numbering stands in for pfns) in batches of :data:`XEN_BATCH`, peeks the dirty
log (``XEN_DOMCTL_SHADOW_OP_PEEK``) before each batch, and skips a page to send that was
dirtied again since the round began -- the next round sends it; the stop-and-copy round skips
nothing. A skipped page costs no link time, so the round ends sooner and the stop rule sees the
pages actually sent (``sent_this_iter``).

The first period's writes may differ from the later ones' (``first``): a stream that starts
by populating its memory (each page zeroed by the guest kernel on its first touch: a write)
does that once, not once per period.

**Dirty logging** (the ``logging`` code): how the hypervisor learns which pages the guest
wrote, and what that costs the guest --

- ``WRITE_PROTECT``: memory is write-protected at each round's start; the first write to a
  page in a round traps (``trap_cycles``), the handler marks it dirty and unprotects it;
- ``PML``: the CPU logs each page whose EPT dirty flag it sets; the log holds
  ``pml_entries`` pages and a write that finds it full exits (``full_cycles``: the exit and
  the drain) before it is logged -- so one exit per ``pml_entries`` dirty pages after the
  first ``pml_entries`` of a round (the hypervisor drains the log at each round's start, as
  KVM does when it syncs the dirty log); :class:`hwmodels.pml.PMLModel` gives the same
  exits on the same writes (tested);
- ``SCAN``: the CPU sets EPT dirty flags and the hypervisor scans for them: no trap per
  page, but each round after the first starts with the scan (``round_s``, the guest running
  meanwhile; before the stop-and-copy round it is part of the downtime);
- ``NONE``: no logging (the stop-and-copy baseline: one live round is never enough).

**Devices.** A device that writes guest memory by DMA dirties pages the CPU never writes: a
paravirtual backend (vhost-net, netback) writes the guest's receive buffers itself and logs
them (as does an IOMMU with dirty tracking); a pass-through device (an SR-IOV function)
without dirty tracking leaves the hypervisor one safe answer, every page pinned for the
device (all the VM's memory) dirty in every round (QEMU's VFIO migration documentation) --
so the rounds never shrink. The device is quiesced with the guest for the stop-and-copy
round.

Each live round also stalls the guest ``round_cycles`` (re-protecting memory or clearing the
dirty flags, and the TLB flush that makes it visible).

**Huge mappings.** Logging works on 4 KiB pages, so memory the hypervisor maps with huge
pages is split when logging starts. Eagerly (``split_s``: KVM since commit a3fe5dbd), the
thread that turns logging on rewrites every huge mapping as 4 KiB entries before the first
round; the guest runs meanwhile and its writes are logged as usual. On fault (``split_lazy``:
KVM before it), the huge mappings are write-protected, and a write to one drops it and maps
the written 4 KiB page alone: each page's first write faults (``split_fault_cycles``) and leaves
the page writable and already marked dirty -- no trap or log entry of its own; its later
rounds are logged as usual. (A page's first read, where it comes first, faults too; the
engine sees writes only, so those faults are not counted.)

>>> import numpy as np
>>> r = precopy(np.arange(4) * 100, np.arange(4), 1000, 4, 256, 10.0, 1e9, 1e9, WRITE_PROTECT,
...             2000.0, 512, 0.0, 0.0)
>>> r.rounds, r.pages_sent, round(r.downtime_s * 1e6, 3)  # 256, the 4 dirtied, them again
(3, 264, 131.328)
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

NONE, WRITE_PROTECT, PML, SCAN = range(4)
"""Dirty-logging codes."""

LOGGING: dict[str, int] = {"none": NONE, "write-protect": WRITE_PROTECT, "pml": PML,
                           "scan": SCAN, "pv-logdirty": WRITE_PROTECT}
"""Logging modes by name: Xen's log-dirty mode for a paravirtual guest protects pages as
write protection does (its traps are faults into Xen rather than VM exits)."""

PAGE_BYTES = 4096
RECORD_BYTES = PAGE_BYTES + 8
"""Bytes on the link per page sent: the frame and its 8-byte ``pfn_type`` record (Xen)."""

XEN_BATCH = 1024
"""Pages per batch of Xen's save loop (``MAX_BATCH_SIZE``; "1024 pages (4MB) at a time"):
with ``skip``, the dirty log is peeked before each batch."""

STOP_PAGES = 50
MAX_ROUNDS = 30
MAX_FACTOR = 3
"""Xen's stop rule (``tools/libxc/xc_domain_save.c``): fewer than 50 pages sent in a round,
30 rounds in all, more than 3 times the VM's memory sent."""


class Migration(NamedTuple):
    """What a pre-copy migration did (times in seconds from its start)."""

    rounds: int
    """Rounds, the stop-and-copy round included."""
    pages_sent: int
    bytes_sent: int
    total_s: float
    downtime_s: float
    traps: int
    """Write-protection faults (``WRITE_PROTECT``) or log-full exits (``PML``)."""
    extra_cycles: float
    """Guest cycles dirty logging cost during the live rounds."""
    guest_cycles: float
    """Guest cycles of the work it did during the live rounds, without logging."""
    sent: np.ndarray
    """Pages sent per round (the last one: stop-and-copy)."""
    dirtied: np.ndarray
    """Distinct pages dirtied during each live round."""
    device_pages: int = 0
    """Pages a device's DMA dirtied during the live rounds (counted in ``dirtied``)."""
    skipped: int = 0
    """Pages a live round skipped because they were dirtied again before their turn (Xen's
    ``to_skip``; 0 without ``skip``)."""
    split_faults: int = 0
    """First writes to a page still under a huge mapping, each a fault that splits it
    (``split_lazy``; 0 otherwise)."""

    @property
    def guest_slowdown(self) -> float:
        """Guest cycles during the live rounds with dirty logging over without (1: none)."""
        return self.slowdown(1.0)

    def slowdown(self, unlogged: float) -> float:
        """:attr:`guest_slowdown` where, without logging, each access costs ``unlogged``
        times what it costs logged (a split's 4 KiB entries cost more than huge pages)."""
        without = self.guest_cycles * unlogged
        return (self.guest_cycles + self.extra_cycles) / without if without > 0 else 1.0


# Slots of the engine's write-cursor state (``cur``): period, index in it, traps, pages
# dirtied this round, log entries since the last drain, split faults; ``extra`` holds the
# logging cycles.
C_Q, C_J, C_TRAPS, C_DIRTY, C_DRAIN, C_SPLIT = range(6)


@numba.njit(cache=True)
def _advance(wpos0, wpage0, wpos, wpage, period, cycles_per_access, clock_hz, logging,
             trap_cycles, pml_entries, full_cycles, huge, split_fault_cycles, stamp, k, until,
             cur, extra):
    """Apply the guest's writes that happen before ``until`` seconds (in time order, from
    the cursor ``cur``): a page first written in round ``k`` is stamped and counted dirty,
    and logging charges the guest (``extra[0]``) as the module says; a page still under a
    huge mapping (``huge[p]``) takes a split fault instead."""
    n0 = len(wpos0)
    n1 = len(wpos)
    while True:
        q = cur[C_Q]
        j = cur[C_J]
        if q == 0:
            if j == n0:
                cur[C_Q], cur[C_J] = 1, 0
                continue
            pos = wpos0[j]
            p = wpage0[j]
        else:
            if n1 == 0:
                return
            if j == n1:
                cur[C_Q], cur[C_J] = q + 1, 0
                continue
            pos = q * period + wpos[j]
            p = wpage[j]
        if (pos * cycles_per_access + extra[0]) / clock_hz >= until:
            return
        if stamp[p] != k:
            stamp[p] = k
            cur[C_DIRTY] += 1
            if huge[p]:
                # the fault maps the page writable and marks it dirty: no trap of its
                # own, no log entry (KVM's make_spte)
                huge[p] = False
                extra[0] += split_fault_cycles
                cur[C_SPLIT] += 1
            elif logging == WRITE_PROTECT:
                extra[0] += trap_cycles
                cur[C_TRAPS] += 1
            elif logging == PML:
                if cur[C_DRAIN] == pml_entries:
                    extra[0] += full_cycles
                    cur[C_TRAPS] += 1
                    cur[C_DRAIN] = 0
                cur[C_DRAIN] += 1
        cur[C_J] = j + 1


@numba.njit(cache=True)
def _precopy(wpos0, wpage0, wpos, wpage, period, n_pages, memory_pages, cycles_per_access,
             clock_hz,
             link_bps, logging, trap_cycles, pml_entries, full_cycles, round_cycles,
             stop_pages, max_rounds, max_factor, round_s, dev_pages, dev_rate, dev_all,
             skip, batch, record_bytes, split_s, split_lazy, split_fault_cycles, sent, dirtied,
             out):
    stamp = np.full(n_pages, -1, dtype=np.int64)  # the round a page was last dirtied in
    huge = np.full(n_pages, split_lazy, dtype=np.bool_)  # still under a huge mapping
    page_s = record_bytes * 8.0 / link_bps
    cur = np.zeros(6, dtype=np.int64)
    extra = np.zeros(1, dtype=np.float64)
    total = 0
    t = 0.0
    to_send = memory_pages
    k = 0
    guest_pos = 0.0
    device = 0
    carried = 0  # pages the device dirtied in the last round: sent in this one
    skipped = 0
    xen_skip = skip and logging != NONE
    while True:
        k += 1
        skipped_now = 0
        if logging != NONE:
            extra[0] += round_cycles
        cur[C_DIRTY] = 0
        cur[C_DRAIN] = 0
        start = t + (round_s if k > 1 else split_s)
        if xen_skip:
            # Xen: pages in pfn order (the dirty stream's numbering), in batches; before
            # each batch the dirty log is peeked, and a page to send that was dirtied again
            # since the round began is skipped (it is in this round's dirty set)
            n_sent = 0
            listed = (stamp == k - 1) | (k == 1 or dev_all)  # this round's pages to send
            for b0 in range(0, n_pages, batch):
                _advance(wpos0, wpage0, wpos, wpage, period, cycles_per_access, clock_hz,
                         logging, trap_cycles, pml_entries, full_cycles, huge,
                         split_fault_cycles, stamp, k, start + n_sent * page_s, cur, extra)
                for p in range(b0, min(b0 + batch, n_pages)):
                    if listed[p]:
                        if stamp[p] == k:
                            skipped_now += 1
                        else:
                            n_sent += 1
            skipped += skipped_now
            rest = memory_pages - n_pages if k == 1 or dev_all else carried
            to_send = n_sent + rest
            end = start + to_send * page_s
        else:
            end = start + to_send * page_s
        sent[k - 1] = to_send
        total += to_send
        _advance(wpos0, wpage0, wpos, wpage, period, cycles_per_access, clock_hz, logging,
                 trap_cycles, pml_entries, full_cycles, huge, split_fault_cycles, stamp, k, end,
                 cur, extra)
        dirty = cur[C_DIRTY]
        # the device's DMA into its ring of buffers during the round, logged by its backend
        by_device = min(dev_pages, int(dev_rate * (end - t)))
        device += by_device
        dirty += by_device
        carried = by_device
        t = end
        guest_pos = (t * clock_hz - extra[0]) / cycles_per_access
        if logging == NONE:
            dirty = n_pages + dev_pages  # nothing tracked: everything that may have changed
        if dev_all:
            dirty = memory_pages  # every page pinned for the device counts as dirty
        dirtied[k - 1] = dirty
        # decided on what this round sent, before the dirty log is read (Xen: the test, then
        # XEN_DOMCTL_SHADOW_OP_CLEAN), so the stop-and-copy sends what this round dirtied
        last = (k >= max_rounds - 1 or to_send + skipped_now < stop_pages
                or total > max_factor * memory_pages
                or (k > 1 and sent[k - 1] > sent[k - 2]) or logging == NONE)
        if last:
            sent[k] = dirty
            total += dirty
            out[0] = k + 1
            out[1] = total
            out[2] = t + round_s + dirty * page_s
            out[3] = round_s + dirty * page_s
            out[4] = cur[C_TRAPS]
            out[5] = extra[0]
            out[6] = max(guest_pos, 0.0) * cycles_per_access
            out[7] = device
            out[8] = skipped
            out[9] = cur[C_SPLIT]
            return
        to_send = dirty


def _writes(wpos: np.ndarray, wpage: np.ndarray, period: int, n_pages: int, where: str
            ) -> tuple[np.ndarray, np.ndarray]:
    wpos = np.ascontiguousarray(wpos, dtype=np.int64)
    wpage = np.ascontiguousarray(wpage, dtype=np.int64)
    if len(wpos) != len(wpage):
        raise ValueError(f"{where}wpos, wpage: expected arrays of one length")
    # checked a block at a time: the columns may be maps of files larger than memory
    block = 1 << 22
    if len(wpos) and (wpos.min() < 0 or wpos.max() >= period or any(
            np.any(np.diff(wpos[lo:lo + block + 1]) < 0) for lo in range(0, len(wpos), block))):
        raise ValueError(f"{where}wpos: expected ascending access indices below the period "
                         f"{period}")
    if len(wpage) and (wpage.min() < 0 or wpage.max() >= n_pages):
        raise ValueError(f"{where}wpage: expected page numbers below {n_pages}")
    return wpos, wpage


def precopy(wpos: np.ndarray, wpage: np.ndarray, period: int, n_pages: int,
            memory_pages: int, cycles_per_access: float, clock_hz: float, link_bps: float,
            logging: int, trap_cycles: float, pml_entries: int, full_cycles: float,
            round_cycles: float, stop_pages: int = STOP_PAGES, max_rounds: int = MAX_ROUNDS,
            max_factor: float = MAX_FACTOR, resume_s: float = 0.0, round_s: float = 0.0,
            first: tuple[np.ndarray, np.ndarray] | None = None, dev_pages: int = 0,
            dev_rate: float = 0.0, dev_all: bool = False, skip: bool = False,
            split_s: float = 0.0, split_lazy: bool = False, split_fault_cycles: float = 0.0
            ) -> Migration:
    """Migrate a guest whose writes in one period of ``period`` accesses are at access
    indices ``wpos`` (ascending) to pages ``wpage`` (numbered ``0 .. n_pages - 1``), at
    ``cycles_per_access`` guest cycles per access on a ``clock_hz`` core, over a link of
    ``link_bps``; the VM has ``memory_pages`` pages (at least ``n_pages``); ``round_s``:
    seconds the hypervisor spends collecting a round's dirty set before sending it (a scan),
    the guest running meanwhile (paused, before the last round); ``first``: the first
    period's writes, when they differ from the later periods' (a stream that populates its
    memory as it starts: the start-up writes once); ``dev_pages``, ``dev_rate``: a device
    writing (DMA) ``dev_rate`` pages/s into a ring of ``dev_pages`` buffer pages, logged by its
    backend; ``dev_all``: a pass-through device without dirty tracking, every page pinned
    for it (all the VM's) reported dirty each round; ``skip``: Xen's skipping of pages
    dirtied again before their turn in a round (:data:`XEN_BATCH`); ``split_s``: seconds
    before the first round in which the hypervisor splits huge mappings (eager splitting,
    the guest running meanwhile); ``split_lazy``: every page starts under a huge mapping
    and its first write is a fault of ``split_fault_cycles`` instead of its logging (splitting on
    fault). See the module."""
    wpos, wpage = _writes(wpos, wpage, period, n_pages, "")
    wpos0, wpage0 = (wpos, wpage) if first is None else _writes(*first, period, n_pages,
                                                                "first: ")
    if memory_pages < n_pages:
        raise ValueError(f"memory_pages: expected at least the {n_pages} pages written, "
                         f"got {memory_pages}")
    for name, v in (("cycles_per_access", cycles_per_access), ("clock_hz", clock_hz),
                    ("link_bps", link_bps)):
        if not v > 0:
            raise ValueError(f"{name}: expected a positive number, got {v}")
    for name, v in (("split_s", split_s), ("split_fault_cycles", split_fault_cycles)):
        if not v >= 0:
            raise ValueError(f"{name}: expected a number >= 0, got {v}")
    if split_lazy and logging == NONE:
        raise ValueError("split_lazy: pages are split on fault only while logging is on")
    if max_rounds < 2:
        raise ValueError(f"max_rounds: expected at least 2 (a live round and the last), "
                         f"got {max_rounds}")
    sent = np.zeros(max_rounds + 1, dtype=np.int64)
    dirtied = np.zeros(max_rounds, dtype=np.int64)
    out = np.zeros(10, dtype=np.float64)
    _precopy(wpos0, wpage0, wpos, wpage, period, n_pages, memory_pages, cycles_per_access, clock_hz,
             link_bps, logging, trap_cycles, pml_entries, full_cycles, round_cycles,
             stop_pages, max_rounds, max_factor, round_s, dev_pages, dev_rate, dev_all,
             skip, XEN_BATCH, RECORD_BYTES, float(split_s), bool(split_lazy),
             float(split_fault_cycles), sent, dirtied, out)
    rounds = int(out[0])
    pages = int(out[1])
    return Migration(rounds, pages, pages * RECORD_BYTES, float(out[2]) + resume_s,
                     float(out[3]) + resume_s, int(out[4]), float(out[5]), float(out[6]),
                     sent[:rounds].copy(), dirtied[:rounds - 1].copy(), int(out[7]),
                     int(out[8]), int(out[9]))


__all__ = ["LOGGING", "MAX_FACTOR", "MAX_ROUNDS", "NONE", "PML", "RECORD_BYTES", "SCAN",
           "STOP_PAGES", "WRITE_PROTECT", "XEN_BATCH", "Migration", "precopy"]
