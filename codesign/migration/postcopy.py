"""Post-copy live migration (Hines, Deshpande and Gopalan, "Post-Copy Live Migration of
Virtual Machines", SIGOPS OSR 2009; Hines and Gopalan, VEE 2009): the VM is stopped once,
its CPU state sent, and resumed on the destination before any of its memory; the source
then pushes every page once while the guest's accesses to pages not there yet fault across
the network.

The engine is a compiled loop over the guest's accesses in time order, from the switch-over
(access ``start`` of a period of accesses, repeated as the guest runs on), at
``seconds_per_access`` each plus the time it waits. Pages are numbered ``0 ..
memory_pages - 1``, the source's push order (pfn order).

**The link** carries one page at a time, ``tx_s`` each (a 4 KiB frame and its 8-byte
record), back to back from the switch-over: the source pushes the next page not yet sent
(*active push*) whenever nothing else is queued, so the link is never idle until every page
is sent, and each page crosses it exactly once. A page sent at ``t`` is on the destination
at ``t + tx_s + latency_s``.

**A fault.** An access to a page not on the destination traps (``trap_s`` of the guest's
time: the exit and the fault's handling, on top of the wait). If the page is on its way --
pushed, not arrived -- the guest waits for it (``waits``). If not, the destination asks for
it (a *network fault*, ``remote_faults``): the request reaches the source ``latency_s``
later, the source sends the page right after the one on the link (the push goes on
meanwhile: if it reaches the page first, that is a wait instead), and the guest resumes
when it arrives. With ``pivot`` prepaging the push then continues from the page after the
faulted one: pages near a fault are likely needed next (Hines et al.'s *bubbling* around a
pivot, one-sided here: forward from the pivot only); without, the push keeps its pfn order.

**The end.** When every page the guest's period touches is on the destination, no access can
wait again: the loop stops there, and the rest of the push takes its link time. The
migration's time from the switch-over is ``memory_pages * tx_s + latency_s`` (the last
page's arrival) whatever the faults -- each fault reorders the push, it adds no page; the
mechanism adds the downtime before it (the CPU and device state's crossing). The engine
holds state for the touched pages only (the others are only ever pushed, in order: a count
says which are sent), so a VM of any size costs the memory of its working set.

>>> import numpy as np
>>> page = np.array([2, 3, 0, 1])   # one period: four pages of the VM's six
>>> r = postcopy(page, 0, 6, 4, 1e-6, 1e-3, 1e-4, 0.0, pivot=True)
>>> r.pages_sent, r.remote_faults, r.waits   # 2 faults; the push then moved on to page 3
(6, 2, 1)
>>> round(r.push_s * 1e3, 3), round(r.stall_s * 1e3, 3)   # 6 pages x 1 ms + 0.1 ms
(6.1, 5.097)
>>> r = postcopy(page, 0, 6, 4, 1e-6, 1e-3, 1e-4, 0.0, pivot=False)
>>> r.remote_faults, r.waits, round(r.push_s * 1e3, 3)   # pushed in pfn order: 0, 1, 4, 5
(2, 0, 6.1)
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from codesign.migration.precopy import RECORD_BYTES

PREPAGING = ("pivot", "none")
"""Push orders after a network fault: from the page after the faulted one, or unchanged."""


class Postcopy(NamedTuple):
    """What a post-copy migration did (times in seconds, from the switch-over)."""

    pages_sent: int
    bytes_sent: int
    push_s: float
    """The last page's arrival on the destination."""
    remote_faults: int
    """Accesses whose page was neither on the destination nor on its way: a request over
    the network each."""
    waits: int
    """Accesses that found their page on its way (pushed, not arrived)."""
    stall_s: float
    """Guest time lost to faults: waits for pages and the traps' handling."""
    touched: int
    """Distinct pages the guest's period touches (its working set)."""

    @property
    def guest_slowdown(self) -> float:
        """The guest's time to do a push's length of work over that length (1: no stall):
        ``1 + stall_s / push_s``. Every stall falls within the push, so the guest that
        works ``push_s - stall_s`` during it does the rest after it, unstalled. Finite even
        when the guest waits out the whole push (one host page holding all it touches)."""
        return 1.0 + self.stall_s / self.push_s if self.push_s > 0 else 1.0


# Slots of the engine's state (``st``): the push's cursor, pages sent, the time the link is
# free, pages below ``touched`` sent, the latest arrival among them, pages from ``touched`` on
# sent (always the first ones of that range: only the push sends them, in order).
S_CURSOR, S_SENT, S_LINK, S_TOUCHED, S_LAST, S_REST = range(6)
N_STATE = 6


@numba.njit(cache=True)
def _unsent(nxt, c):
    """The first touched page from ``c`` on not sent yet (``len(nxt) - 1``: none): ``nxt``
    links each sent page to the next one up, its paths halved as they are followed."""
    while nxt[c] != c:
        nxt[c] = nxt[nxt[c]]
        c = nxt[c]
    return c


@numba.njit(cache=True)
def _send(c, touched, tx_s, latency_s, nxt, arrive, st, after):
    """Send page ``c`` once the link is free and no earlier than ``after``. Only the pages
    the guest touches (below ``touched``) are tracked one by one: the others are only ever
    pushed, in order, so a count says which of them are sent. A touched page is sent once
    its arrival time is set (``arrive``: infinite until then)."""
    st[S_SENT] += 1
    st[S_LINK] = max(st[S_LINK], after) + tx_s
    if c < touched:
        nxt[c] = c + 1
        arrive[c] = st[S_LINK] + latency_s
        st[S_TOUCHED] += 1
        st[S_LAST] = max(st[S_LAST], arrive[c])
    else:
        st[S_REST] += 1


@numba.njit(cache=True)
def _next_push(memory_pages, touched, nxt, st):
    """The page the push sends next: the first not sent from the cursor on, wrapping
    around (some page is unsent)."""
    c = int(st[S_CURSOR])
    if c < touched:
        c = _unsent(nxt, c)
        if c < touched:
            return c
    if touched + st[S_REST] < memory_pages:
        return touched + int(st[S_REST])
    return _unsent(nxt, 0)


@numba.njit(cache=True)
def _push_until(t, memory_pages, touched, tx_s, latency_s, nxt, arrive, st):
    """Push pages (from the cursor, skipping those sent, wrapping around) while the link
    frees up before ``t``."""
    while st[S_SENT] < memory_pages and st[S_LINK] < t:
        c = _next_push(memory_pages, touched, nxt, st)
        _send(c, touched, tx_s, latency_s, nxt, arrive, st, 0.0)
        st[S_CURSOR] = c


@numba.njit(cache=True)
def _postcopy(page, start, touched, memory_pages, seconds_per_access, tx_s, latency_s,
              trap_s, pivot, out):
    n = len(page)
    nxt = np.arange(touched + 1)
    arrive = np.full(touched, np.inf)
    st = np.zeros(N_STATE, dtype=np.float64)
    faults = 0
    waits = 0
    stall = 0.0
    t = 0.0
    i = start
    while not (st[S_TOUCHED] == touched and t >= st[S_LAST]):
        p = page[i]
        _push_until(t, memory_pages, touched, tx_s, latency_s, nxt, arrive, st)
        if arrive[p] > t:
            if arrive[p] == np.inf:
                # the request is on its way to the source; the push goes on meanwhile
                _push_until(t + latency_s, memory_pages, touched, tx_s, latency_s, nxt,
                            arrive, st)
            if arrive[p] == np.inf:  # not pushed meanwhile: sent on request
                _send(p, touched, tx_s, latency_s, nxt, arrive, st, t + latency_s)
                faults += 1
                if pivot:
                    st[S_CURSOR] = p + 1 if p + 1 < memory_pages else 0
            else:
                waits += 1
            resume = arrive[p] + trap_s
            stall += resume - t
            t = resume
        t += seconds_per_access
        i += 1
        if i == n:
            i = 0
    rest = memory_pages - int(st[S_SENT])
    out[0] = st[S_LINK] + rest * tx_s + latency_s  # the push is back to back
    out[1] = faults
    out[2] = waits
    out[3] = stall


def postcopy(page: np.ndarray, start: int, memory_pages: int, touched: int,
             seconds_per_access: float, tx_s: float, latency_s: float, trap_s: float,
             pivot: bool) -> Postcopy:
    """Migrate, post-copy, a guest whose accesses in one period go to pages ``page``
    (numbered below ``touched``, the pages the period touches, themselves the first
    ``touched`` of the ``memory_pages`` in push order), switched over before access
    ``start``, at ``seconds_per_access`` each; ``tx_s`` per page on the link,
    ``latency_s`` one way, ``trap_s`` of guest time per fault; ``pivot``: the push moves
    past each network fault (see the module)."""
    page = np.ascontiguousarray(page, dtype=np.int64)
    if not len(page):
        raise ValueError("page: expected at least one access")
    if not 0 < touched <= memory_pages:
        raise ValueError(f"touched: expected 1 .. memory_pages ({memory_pages}), got {touched}")
    if page.min() < 0 or page.max() >= touched:
        raise ValueError(f"page: expected page numbers below touched ({touched})")
    if not 0 <= start < len(page):
        raise ValueError(f"start: expected an access index below {len(page)}, got {start}")
    for name, v in (("seconds_per_access", seconds_per_access), ("tx_s", tx_s)):
        if not v > 0:
            raise ValueError(f"{name}: expected a positive number, got {v}")
    for name, v in (("latency_s", latency_s), ("trap_s", trap_s)):
        if not v >= 0:
            raise ValueError(f"{name}: expected a number >= 0, got {v}")
    out = np.zeros(4, dtype=np.float64)
    _postcopy(page, start, touched, memory_pages, seconds_per_access, tx_s, latency_s,
              trap_s, pivot, out)
    return Postcopy(memory_pages, memory_pages * RECORD_BYTES, float(out[0]), int(out[1]),
                    int(out[2]), float(out[3]), touched)


__all__ = ["PREPAGING", "Postcopy", "postcopy"]
