"""The replay's translation cache of one address space in a numpy hash table, not a dict.

:class:`codesign.mmu.replay.Replay` remembers, per address space, what each page translated
to when a run last needed it -- frame, TLB size class, permissions -- so that a run only asks
the guest model about pages it has not seen since they last changed. With a dict that is a
key, a tuple and three boxed integers per page (about 170 bytes); here it is one
:class:`~hwmodels.pagewalk.tables.Memory` word per page (key ``page << 3``; value
``frame << 8 | size class << 4 | perms``, never 0: every translation is readable), looked up
for a whole run in one compiled call, and dropped by ranges with the table's own compiled
delete.

>>> t = TransCache(); t.store(np.array([5, 9]), np.array([70, 90]), np.array([0, 1]),
...                           np.array([11, 9]))
>>> frame, klass, perms, found = t.lookup(np.array([9, 6, 5]))
>>> frame.tolist(), klass.tolist(), perms.tolist(), found.tolist()
([90, 0, 70], [1, 0, 0], [9, 0, 11], [True, False, True])
>>> t[5], t.get(6), len(t)
((70, 0, 11), None, 2)
>>> t.discard(5, 2); len(t)
1
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import hwmodels.pagewalk.tables as _tables
from hwmodels.pagewalk.tables import Memory, mem_get, mem_put, mem_room

from .jitcache import compiled_after, digest

_compiled = compiled_after(digest([Path(_tables.__file__)]))


@_compiled
def _lookup(slots, cells, meta, pages, frame, klass, perms, found):
    for i in range(len(pages)):
        w = mem_get(slots, cells, meta, pages[i] << 3)
        if w != 0:
            found[i] = True
            frame[i] = w >> 8
            klass[i] = (w >> 4) & 15
            perms[i] = w & 15


@_compiled
def _store(slots, cells, meta, lo, pages, frame, klass, perms):
    """Store translations ``lo ..`` until the image is full; (where it stopped, words
    added)."""
    added = 0
    for i in range(lo, len(pages)):
        if not mem_room(slots, cells, meta, 1):
            return i, added
        added += mem_put(slots, cells, meta, pages[i] << 3,
                         (frame[i] << 8) | (klass[i] << 4) | perms[i])
    return len(pages), added


class TransCache:
    """page -> (frame, TLB size class, permissions) of one address space."""

    def __init__(self) -> None:
        self.mem = Memory()

    def lookup(self, pages: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                 np.ndarray]:
        """(frames, size classes, permissions, found) of ``pages`` (0 where not found)."""
        n = len(pages)
        frame, klass, perms = (np.zeros(n, dtype=np.int64) for _ in range(3))
        found = np.zeros(n, dtype=np.bool_)
        _lookup(*self.mem.table(), pages, frame, klass, perms, found)
        return frame, klass, perms, found

    def store(self, pages: np.ndarray, frame: np.ndarray, klass: np.ndarray | int,
              perms: np.ndarray) -> None:
        """Remember (or replace) the translations of ``pages`` (int64 arrays, as the other
        columns)."""
        n = len(pages)
        if not n:
            return
        if not isinstance(klass, np.ndarray):
            klass = np.full(n, klass, dtype=np.int64)
        self.mem.fill(_store, n, pages, frame, klass, perms)

    def get(self, page: int) -> tuple[int, int, int] | None:
        w = self.mem.read(page << 3)
        return (w >> 8, (w >> 4) & 15, w & 15) if w else None

    def __getitem__(self, page: int) -> tuple[int, int, int]:
        t = self.get(page)
        if t is None:
            raise KeyError(page)
        return t

    def discard(self, page: int, count: int = 1) -> None:
        """Forget pages ``page .. page + count - 1`` (those present)."""
        self.mem.clear(page << 3, count << 3)

    def __len__(self) -> int:
        return len(self.mem)


__all__ = ["TransCache"]
