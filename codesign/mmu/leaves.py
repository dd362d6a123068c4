"""The populated leaves of one address space in a compiled hash table, not a dict.

:class:`codesign.mmu.guest.GuestModel` keeps, per address space, every populated leaf: its
frame, page size, protection, copy-on-write state and the allocation whose reference it holds.
As a dict of :class:`Leaf` objects that is a key, an object and its boxed fields per page --
about 200 bytes, and a Python object built for every demand fault. Here a leaf is one word of a
:class:`~hwmodels.pagewalk.tables.Memory` image, at word address ``va >> 9`` (the page's number
times 8: a dense run of pages is a dense run of words, 8 bytes a leaf). A run of 4 KiB demand
faults is stored in one compiled call (:meth:`Leaves.put_4k`), and which pages of a run have a
leaf, and which of those are copy-on-write, is one compiled lookup (:meth:`Leaves.state`).
Leaves are listed in address order (:meth:`Leaves.items` and friends): the order in which
Linux's ``zap_pte_range`` clears them, and so releases their frames, at an exit.

The packed word (never 0): the frame's guest-physical address (bits 51:12) and flags: bit 0
set always, bit 1 a 2 MiB leaf, bit 2 the leaf holds a reference to the 2 MiB allocation
around its frame (a 4 KiB piece of a split 2 MiB page; otherwise its allocation is its own
frame and size), bit 3 copy-on-write, bits 7:4 the region's protection.

>>> lv = Leaves()
>>> lv[0x7000] = Leaf(0x5000, 4096, 3, False, (0x5000, 4096))
>>> lv.put_4k(np.array([0x9000, 0x8000]), np.array([0x6000, 0x7000]), np.array([1, 3]))
>>> lv.get(0x9000), len(lv), list(lv)
(Leaf(gpa=24576, size=4096, prot=1, cow=False, alloc=(24576, 4096)), 3, [28672, 32768, 36864])
>>> lv.pop(0x7000).gpa, 0x7000 in lv, len(lv)
(20480, False, 2)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import hwmodels.pagewalk.tables as _tables
from hwmodels.pagewalk.tables import (
    FRAME_MASK,
    PAGE_2M,
    PAGE_4K,
    Memory,
    mem_get,
    mem_put,
    mem_room,
)

from .jitcache import compiled_after, digest

_compiled = compiled_after(digest([Path(_tables.__file__)]))

_ONE, _HUGE, _ALLOC_2M, _COW = 1, 2, 4, 8
_PROT_SHIFT = 4
_KEY_SHIFT = 9
"""A leaf's key in the image is its page number times 8 (``va >> 9``): the leaves of
consecutive pages are consecutive words, sixteen to a row."""


@dataclass(slots=True)
class Leaf:
    """One populated leaf: its frame, page size, protection, copy-on-write state and the
    allocation (base, size) whose reference it holds."""

    gpa: int
    size: int
    prot: int
    cow: bool
    alloc: tuple[int, int]


def _pack(leaf: Leaf) -> int:
    base, size = leaf.alloc
    split = size == PAGE_2M and leaf.size == PAGE_4K
    if leaf.gpa & ~FRAME_MASK or (base, size) != ((leaf.gpa & ~(PAGE_2M - 1), PAGE_2M)
                                                  if split else (leaf.gpa, leaf.size)):
        raise ValueError(f"leaf: cannot pack {leaf}")
    return (leaf.gpa | _ONE | _HUGE * (leaf.size == PAGE_2M) | _ALLOC_2M * split
            | _COW * leaf.cow | leaf.prot << _PROT_SHIFT)


def _unpack(word: int) -> Leaf:
    gpa = word & FRAME_MASK
    size = PAGE_2M if word & _HUGE else PAGE_4K
    alloc = (gpa & ~(PAGE_2M - 1), PAGE_2M) if word & _ALLOC_2M else (gpa, size)
    return Leaf(gpa, size, (word >> _PROT_SHIFT) & 15, bool(word & _COW), alloc)


@_compiled
def _put_4k(slots, cells, meta, lo, vas, gpas, prots):
    """Store leaves ``lo ..`` until the image is full; (where it stopped, words added)."""
    added = 0
    for i in range(lo, len(vas)):
        if not mem_room(slots, cells, meta, 1):
            return i, added
        added += mem_put(slots, cells, meta, vas[i] >> _KEY_SHIFT,
                         gpas[i] | _ONE | (prots[i] << _PROT_SHIFT))
    return len(vas), added


@_compiled
def _covering(slots, cells, meta, pages, words):
    for i in range(len(pages)):
        w = mem_get(slots, cells, meta, pages[i] << 3)
        if w == 0 or w & _HUGE:  # not a 4 KiB leaf: the 2 MiB page around it, if any
            w = mem_get(slots, cells, meta, (pages[i] & ~np.int64(511)) << 3)
            if not w & _HUGE:
                w = 0
        words[i] = w


class Leaves:
    """va (page-aligned) -> :class:`Leaf`, as a dict of them would be, listed by address."""

    def __init__(self) -> None:
        self.mem = Memory()

    def __len__(self) -> int:
        return len(self.mem)

    def __contains__(self, va: int) -> bool:
        return not va & (PAGE_4K - 1) and self.mem.read(va >> _KEY_SHIFT) != 0

    def get(self, va: int) -> Leaf | None:
        """The leaf at ``va`` (its page's address), or None."""
        word = 0 if va & (PAGE_4K - 1) else self.mem.read(va >> _KEY_SHIFT)
        return _unpack(word) if word else None

    def word_at(self, va: int) -> int:
        """The packed word of the leaf covering address ``va`` (a 4 KiB leaf at its page or a
        2 MiB leaf around it), 0 when none does: :meth:`covering` of one address."""
        read = self.mem.read
        word = read((va & ~(PAGE_4K - 1)) >> _KEY_SHIFT)
        if word == 0 or word & _HUGE:
            word = read((va & ~(PAGE_2M - 1)) >> _KEY_SHIFT)
            if not word & _HUGE:
                return 0
        return word

    def at(self, va: int) -> Leaf | None:
        """The leaf covering address ``va``, or None (:meth:`word_at`)."""
        word = self.word_at(va)
        return _unpack(word) if word else None

    @staticmethod
    def is_cow(word: int) -> bool:
        """Whether packed ``word`` is a copy-on-write leaf's."""
        return bool(word & _COW)

    def __getitem__(self, va: int) -> Leaf:
        word = 0 if va & (PAGE_4K - 1) else self.mem.read(va >> _KEY_SHIFT)
        if not word:
            raise KeyError(va)
        return _unpack(word)

    def __setitem__(self, va: int, leaf: Leaf) -> None:
        if va & (PAGE_4K - 1):
            raise ValueError(f"va: expected a page address, got {va:#x}")
        self.mem.write(va >> _KEY_SHIFT, _pack(leaf))

    def pop(self, va: int) -> Leaf:
        leaf = self[va]
        self.mem.write(va >> _KEY_SHIFT, 0)
        return leaf

    def put_4k(self, vas: np.ndarray, gpas: np.ndarray, prots: np.ndarray) -> None:
        """Add new 4 KiB leaves, not copy-on-write, each holding its own frame (a run of
        demand faults: int64 arrays, pages not yet populated), in order."""
        n = len(vas)
        if not n:
            return
        vas, gpas, prots = (np.ascontiguousarray(x, dtype=np.int64) for x in (vas, gpas, prots))
        if self.mem.fill(_put_4k, n, vas, gpas, prots) != n:
            raise AssertionError("put_4k: a page already had a leaf")

    def state(self, pages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(populated, copy-on-write) of each 4 KiB page number of ``pages`` (int64): whether
        a 4 KiB or 2 MiB leaf covers it, and whether that leaf is copy-on-write."""
        words = self.covering(pages)
        return words != 0, (words & _COW) != 0

    def covering(self, pages: np.ndarray) -> np.ndarray:
        """The packed word of the leaf covering each 4 KiB page number of ``pages`` (int64;
        a 4 KiB leaf at the page or a 2 MiB leaf around it), 0 where none does."""
        pages = np.ascontiguousarray(pages, dtype=np.int64)
        words = np.zeros(len(pages), dtype=np.int64)
        _covering(*self.mem.table(), pages, words)
        return words

    @staticmethod
    def fields(words: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(frame address, page size, protection, copy-on-write) of packed words.

        >>> lv = Leaves(); lv[0x200000] = Leaf(0x400000, 1 << 21, 7, True, (0x400000, 1 << 21))
        >>> [x.tolist() for x in Leaves.fields(lv.covering(np.array([0x201, 0x400])))]
        [[4194304, 0], [2097152, 4096], [7, 0], [True, False]]
        """
        gpa = words & FRAME_MASK
        size = np.where(words & _HUGE, PAGE_2M, PAGE_4K)
        return gpa, size, (words >> _PROT_SHIFT) & 15, (words & _COW) != 0

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(addresses ascending, packed words) of every leaf."""
        keys, vals = self.mem.arrays()
        return keys.astype(np.int64) << _KEY_SHIFT, vals

    def __iter__(self) -> Iterator[int]:
        return iter(self.arrays()[0].tolist())

    def values(self) -> list[Leaf]:
        return [_unpack(w) for w in self.arrays()[1].tolist()]

    def items(self) -> list[tuple[int, Leaf]]:
        vas, words = self.arrays()
        return [(va, _unpack(w)) for va, w in zip(vas.tolist(), words.tolist(), strict=True)]

    def in_range(self, start: int, end: int) -> list[int]:
        """Addresses of the leaves in [start, end), ascending."""
        keys = self.mem.arrays(start >> _KEY_SHIFT, -(-end >> _KEY_SHIFT))[0]
        return (keys.astype(np.int64) << _KEY_SHIFT).tolist()


__all__ = ["Leaf", "Leaves"]
