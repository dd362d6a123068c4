"""Page tables in a sparse memory image: x86-64 entry format, 4 KiB / 2 MiB / 1 GiB mappings.

Entry format (both dimensions; the host/EPT table uses the same layout, a simplification of
EPT's R/W/X bits documented here): bit 0 present, bit 1 writable, bit 2 user, bit 7 page size
(PS), bit 63 no-execute (NX), bits 51:12 the frame address. A table is one 4 KiB page of 512
entries; level ``L`` (1 = leaf table) is indexed by address bits ``12 + 9(L-1) .. 20 + 9(L-1)``.
PS makes a level-2 entry a 2 MiB page and a level-3 entry a 1 GiB page; at level 1 bit 7 is
PAT (ignored by the walk); at levels 4 and 5 it is reserved (the walker reports a
reserved-bit fault). Upper-level entries are written writable and user so the leaf decides.

:class:`Memory` is a sparse word store (absent words read 0, i.e. not present);
:class:`PageTable` builds one radix table through ``read``/``write`` callables, so the same
builder serves a native or host table (physical addresses) and a guest table (guest-physical
addresses, stored wherever the host table maps them). :class:`NestedImage` wires a guest
table on top of a host table in one host memory image. A table keeps a record of what was
mapped (``mappings``), independent of the words in memory, to serve as an oracle in tests --
unless it is built with ``record=False`` (a guest model of a million pages would hold a
million records twice over, in its guest and host tables).

>>> mem, alloc = Memory(), FrameAllocator(0x10000)
>>> pt = PageTable.in_memory(mem, levels=4, alloc=alloc)
>>> pt.map(0x7f0000201000, 0x5000, writable=False)
>>> hex(pt.root), len(mem), hex(pt.translate(0x7f0000201abc)[0])
('0x10000', 4, '0x5abc')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import numba
import numpy as np

PRESENT = 1 << 0
WRITABLE = 1 << 1
USER = 1 << 2
PS = 1 << 7
NX = 1 << 63
SWITCH = 1 << 52
"""Agile paging's switch bit (Gandhi et al., ISCA 2016: "one of the unused bits" of a shadow
entry): bit 52, ignored by the x86-64 walk in every entry. In a non-leaf entry of a shadow
table walked in agile mode it says that the entry's frame is the guest-physical address of
the guest's next-level table, and the walk goes on in two dimensions from there."""
FRAME_MASK = ((1 << 52) - 1) & ~0xFFF
"""Bits 51:12 of an entry: the frame (table or page) address."""

PAGE_4K, PAGE_2M, PAGE_1G = 1 << 12, 1 << 21, 1 << 30
PAGE_SIZES: tuple[int, int, int] = (PAGE_4K, PAGE_2M, PAGE_1G)
"""Page sizes by size class 0, 1, 2 (the level of the leaf is class + 1)."""


def level_shift(level: int) -> int:
    """Lowest address bit indexed at ``level`` (1 = leaf table).

    >>> [level_shift(L) for L in (1, 2, 3, 4, 5)]
    [12, 21, 30, 39, 48]
    """
    return 12 + 9 * (level - 1)


def index(addr: int, level: int) -> int:
    """Entry index of ``addr`` in its level-``level`` table.

    >>> index(0x7f0000201abc, 2), index(0x7f0000201abc, 1)
    (1, 1)
    """
    return (addr >> level_shift(level)) & 511


def make_entry(frame: int, *, writable: bool = True, user: bool = True, nx: bool = False,
               huge: bool = False, present: bool = True) -> int:
    """A 64-bit entry pointing at ``frame`` (4 KiB aligned) with the given bits.

    >>> hex(make_entry(0x5000, writable=False, nx=True))
    '0x8000000000005005'
    """
    if frame & 0xFFF or frame & ~FRAME_MASK:
        raise ValueError(f"frame: expected a 4 KiB aligned address below 2**52, got {frame:#x}")
    return (frame | PRESENT * present | WRITABLE * writable | USER * user | PS * huge
            | NX * nx)


HASH_MUL = 0x9E3779B97F4A7C15
"""Multiplier of :class:`Memory`'s hash (2**64 over the golden ratio, Knuth's Fibonacci
hashing). The walker kernel (``model._read``) probes the same way; numba's disk cache freezes
it there, keyed on ``model.py``'s source only, so a change here must touch ``model.py`` too."""

ROW_WORDS = 16
"""Words per row of a :class:`Memory` image: 128 bytes, two cache lines of eight entries."""
ROW_SHIFT = 7
"""log2 of a row's bytes: a word's row key is its address shifted right by this."""
_ROW_MASK = ROW_WORDS - 1

# Cells of a Memory's ``meta`` array.
M_SHIFT, M_LIVE, M_HIGH, M_HEAD, M_FREE = range(5)
"""``meta``: the hash shift (64 - log2 of the slots), live rows (keys in the slots), rows
handed out so far (the next fresh row), the head of the freed-row list (-1: none) and its
length."""

_M64 = (1 << 64) - 1
_EMPTY = -1
"""Key of an empty slot (row keys are >= 0)."""
_MIN_BITS = 4
_MIN_ROWS = 4


@numba.njit(cache=True)
def _home(key, shift):
    return np.int64((np.uint64(key) * np.uint64(HASH_MUL)) >> np.uint64(shift))


@numba.njit(cache=True)
def _rehash(slots, new_slots, shift):
    """Insert every occupied slot of ``slots`` into the empty larger ``new_slots``."""
    mask = (len(new_slots) >> 1) - 1
    for j in range(len(slots) >> 1):
        key = slots[2 * j]
        if key >= 0:
            i = _home(key, shift)
            while new_slots[2 * i] >= 0:
                i = (i + 1) & mask
            new_slots[2 * i] = key
            new_slots[2 * i + 1] = slots[2 * j + 1]


@numba.njit(cache=True)
def _drop_row(slots, words, meta, i):
    """Delete the row key at slot ``i`` (its row is all zero) and free its row.

    Backward-shift deletion: after emptying a slot, later keys of its probe run move back into
    the hole unless their home slot lies cyclically in (hole, key], where a probe for them
    never passes the hole; so every key stays reachable and no tombstone is left."""
    mask = (len(slots) >> 1) - 1
    shift = meta[M_SHIFT]
    row = slots[2 * i + 1]
    j = i
    while True:
        j = (j + 1) & mask
        k = slots[2 * j]
        if k < 0:
            break
        h = _home(k, shift)
        stays = (i < h and h <= j) if i <= j else (h > i or h <= j)
        if not stays:
            slots[2 * i] = k
            slots[2 * i + 1] = slots[2 * j + 1]
            i = j
    slots[2 * i] = _EMPTY
    slots[2 * i + 1] = 0
    words[row * ROW_WORDS] = meta[M_HEAD]  # the freed list runs through the rows' first words
    meta[M_HEAD] = row
    meta[M_FREE] += 1
    meta[M_LIVE] -= 1


@numba.njit(cache=True)
def _clear(slots, words, meta, addr, n):
    """Delete the words present at ``addr``, ``addr + 8``, ... (``n`` words); how many were.
    A row left all zero is freed."""
    mask = (len(slots) >> 1) - 1
    removed = 0
    w = 0
    while w < n:
        a = addr + 8 * w
        key = a >> ROW_SHIFT
        first = (a >> 3) & _ROW_MASK
        last = min(ROW_WORDS, first + n - w)
        w += last - first
        i = _home(key, meta[M_SHIFT])
        while slots[2 * i] != key and slots[2 * i] >= 0:
            i = (i + 1) & mask
        if slots[2 * i] != key:
            continue
        base = slots[2 * i + 1] * ROW_WORDS
        for k in range(first, last):
            if words[base + k] != 0:
                words[base + k] = 0
                removed += 1
        empty = True
        for k in range(ROW_WORDS):
            if words[base + k] != 0:
                empty = False
                break
        if empty:
            _drop_row(slots, words, meta, i)
    return removed


@numba.njit(cache=True)
def mem_get(slots, words, meta, addr):
    """The word at ``addr`` of a :class:`Memory` image (0: absent), as an int64 bit pattern:
    :meth:`Memory.read` for compiled code."""
    mask = (len(slots) >> 1) - 1
    key = addr >> ROW_SHIFT
    i = _home(key, meta[M_SHIFT])
    while slots[2 * i] != key:
        if slots[2 * i] < 0:
            return np.int64(0)
        i = (i + 1) & mask
    return words[slots[2 * i + 1] * ROW_WORDS + ((addr >> 3) & _ROW_MASK)]


@numba.njit(cache=True)
def mem_room(slots, words, meta, n):
    """Whether ``n`` more :func:`mem_put` calls fit without growing the image, even if each
    opens a row of its own (else the caller stops, grows it -- :meth:`Memory.reserve` -- and
    fetches :meth:`Memory.table` again)."""
    return (2 * (meta[M_LIVE] + n) <= (len(slots) >> 1)
            and meta[M_FREE] + len(words) // ROW_WORDS - meta[M_HIGH] >= n)


@numba.njit(cache=True)
def _open_row(slots, words, meta, i, key):
    """Give row ``key`` a row (a freed one first, else the next fresh one) at the empty
    slot ``i`` that ends its probe; the row's number (its words all 0)."""
    row = meta[M_HEAD]
    if row >= 0:
        meta[M_HEAD] = words[row * ROW_WORDS]
        words[row * ROW_WORDS] = 0
        meta[M_FREE] -= 1
    else:
        row = meta[M_HIGH]
        meta[M_HIGH] = row + 1
    slots[2 * i] = key
    slots[2 * i + 1] = row
    meta[M_LIVE] += 1
    return row


@numba.njit(cache=True)
def mem_put(slots, words, meta, addr, word):
    """Store a non-zero ``word`` (int64 bit pattern) at ``addr`` of a :class:`Memory` image
    that has room (:func:`mem_room`); 1 when the word is new (the caller counts it:
    :meth:`Memory.added`), 0 when it replaced one."""
    mask = (len(slots) >> 1) - 1
    key = addr >> ROW_SHIFT
    i = _home(key, meta[M_SHIFT])
    while slots[2 * i] != key:
        if slots[2 * i] < 0:
            row = _open_row(slots, words, meta, i, key)
            words[row * ROW_WORDS + ((addr >> 3) & _ROW_MASK)] = word
            return 1
        i = (i + 1) & mask
    j = slots[2 * i + 1] * ROW_WORDS + ((addr >> 3) & _ROW_MASK)
    new = 1 if words[j] == 0 else 0
    words[j] = word
    return new


class Memory:
    """Sparse physical memory of aligned 64-bit words; an absent word reads 0.

    The image is stored as rows of :data:`ROW_WORDS` consecutive words (128 bytes) in one
    dense array, found through an open-addressing hash table of row keys (a word's address
    shifted right by :data:`ROW_SHIFT`), so that compiled kernels read it directly
    (:meth:`table`) and writes update it in place: a walker never rebuilds it. A page-table
    page is eight rows, and the tables of a large footprint are nearly full, so a mapped page
    costs its entry's 8 bytes plus a share of its row's slot -- not a slot of its own, as a
    table of single words would (16 bytes at most half full: 32 to 64).

    ``table()`` is (``slots``, ``words``, ``meta``): ``slots`` holds (row key, row number)
    pairs (key -1: empty), ``words`` the rows, ``meta`` the bookkeeping (:data:`M_SHIFT`
    ..). A row key's home slot is the top bits of ``key * HASH_MUL mod 2**64`` (``64 -
    meta[M_SHIFT]`` of them); linear probing; at most half the slots are used (the slots
    double past that), so a probe ends at an empty slot. A row whose words are all cleared is
    freed (its key deleted by backward shift, so no tombstones lengthen probes; the row kept
    on a free list for the next new one).

    >>> m = Memory(); m.write(0x1008, 7); m.read(0x1008), m.read(0x2000), len(m)
    (7, 0, 1)
    >>> m.arrays()[0].tolist()
    [4104]
    >>> m.write(0x1008, 0); len(m), m.rows()
    (0, 0)
    """

    def __init__(self) -> None:
        self._n = 0
        self.meta = np.zeros(5, dtype=np.int64)
        self.meta[M_HEAD] = -1
        self._mv = memoryview(self.meta)
        self._slots(_MIN_BITS)
        self._rows(_MIN_ROWS)

    def _slots(self, bits: int) -> None:
        """Empty slots, ``2**bits`` of them (and the view the Python paths index)."""
        self.slots = np.full(2 << bits, _EMPTY, dtype=np.int64)
        self.slots[1::2] = 0
        self.meta[M_SHIFT] = 64 - bits
        self._shift = 64 - bits
        self._mask = (1 << bits) - 1
        # Indexing a memoryview gives and takes Python ints, several times faster than numpy
        # scalars.
        self._sv = memoryview(self.slots)

    def _rows(self, rows: int) -> None:
        """Room for ``rows`` rows, the rows handed out so far kept."""
        old = getattr(self, "cells", None)
        self.cells = np.zeros(rows * ROW_WORDS, dtype=np.int64)
        if old is not None:
            used = int(self.meta[M_HIGH]) * ROW_WORDS
            self.cells[:used] = old[:used]
        # the unsigned view reads words back as 0 .. 2**64 - 1
        self._wv = memoryview(self.cells.view(np.uint64))

    def table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slots, words, meta): the live image for compiled readers and writers (see the
        class; :func:`mem_get`, :func:`mem_put`, :func:`mem_room`).

        Valid until the next write that grows the image (it reallocates): fetch it again.

        >>> m = Memory(); m.write(0x40, 9); slots, words, meta = m.table()
        >>> int(mem_get(slots, words, meta, 0x40)), len(slots) // 2, int(meta[M_SHIFT])
        (9, 16, 60)
        """
        return self.slots, self.cells, self.meta

    def _find(self, key: int) -> int:
        """Slot of row ``key``, or of the empty slot that ends its probe (key absent)."""
        sv, mask = self._sv, self._mask
        i = ((key * HASH_MUL) & _M64) >> self._shift
        k = sv[2 * i]
        while k != key and k >= 0:
            i = (i + 1) & mask
            k = sv[2 * i]
        return i

    def read(self, addr: int) -> int:
        """The word at ``addr`` (8-byte aligned)."""
        sv = self._sv
        i = self._find(addr >> ROW_SHIFT)
        if sv[2 * i] < 0:
            return 0
        return self._wv[sv[2 * i + 1] * ROW_WORDS + ((addr >> 3) & _ROW_MASK)]

    def write(self, addr: int, word: int) -> None:
        """Store ``word`` at ``addr``; writing 0 removes the word."""
        if addr & 7 or not 0 <= addr < 1 << 63:
            raise ValueError(f"addr: expected an 8-byte aligned address, got {addr:#x}")
        if not 0 <= word < 1 << 64:
            raise ValueError(f"word: expected a 64-bit value, got {word:#x}")
        if not word:
            self._n -= _clear(self.slots, self.cells, self.meta, addr, 1)
            return
        key = addr >> ROW_SHIFT
        i = self._find(key)
        sv = self._sv
        if sv[2 * i] < 0:  # a new row
            mask = self._mask
            self.reserve(1)
            if self._mask != mask:  # the slots doubled: the key's empty slot moved
                i = self._find(key)
            row = _open_row(self.slots, self.cells, self.meta, i, key)
            self._wv[row * ROW_WORDS + ((addr >> 3) & _ROW_MASK)] = word
            self._n += 1
            return
        j = sv[2 * i + 1] * ROW_WORDS + ((addr >> 3) & _ROW_MASK)
        self._n += self._wv[j] == 0
        self._wv[j] = word

    def clear(self, addr: int, size: int) -> None:
        """Remove every word in ``[addr, addr + size)`` (both multiples of 8): one compiled
        call for, say, a freed table page instead of a ``write(a, 0)`` per word.

        >>> m = Memory(); m.write(0x1000, 1); m.write(0x1ff8, 2); m.write(0x2000, 3)
        >>> m.clear(0x1000, 0x1000); len(m), m.read(0x2000)
        (1, 3)
        """
        if addr & 7 or size & 7 or addr < 0 or size < 0 or addr + size > 1 << 63:
            raise ValueError(f"addr, size: expected 8-byte aligned, got {addr:#x}, {size:#x}")
        self._n -= _clear(self.slots, self.cells, self.meta, addr, size >> 3)

    def __len__(self) -> int:
        """Words present (non-zero)."""
        return self._n

    def rows(self) -> int:
        """Rows in use."""
        return int(self.meta[M_LIVE])

    def reserve(self, words: int) -> None:
        """Grow the image now, as writes would, so that ``words`` more words fit even if each
        opens a row (:func:`mem_room`): compiled writers insert with :func:`mem_put` into
        :meth:`table` and report how many words they added (:meth:`added`).

        >>> m = Memory(); m.reserve(40); len(m.table()[0]) // 2
        128
        """
        meta = self.meta
        while 2 * (int(meta[M_LIVE]) + words) > self._mask + 1:
            old = self.slots
            self._slots(64 - self._shift + 1)
            _rehash(old, self.slots, self._shift)
        spare = int(meta[M_FREE]) + len(self.cells) // ROW_WORDS - int(meta[M_HIGH])
        if spare < words:
            have = len(self.cells) // ROW_WORDS
            self._rows(max(2 * have, have + words - spare))

    def added(self, words: int) -> None:
        """Count ``words`` new words a compiled writer stored (see :meth:`reserve`)."""
        self._n += words

    def fill(self, writer: Callable[..., tuple[int, int]], n: int, *args: object) -> int:
        """Run a compiled ``writer(slots, cells, meta, lo, *args)`` over items ``0 .. n - 1``:
        it stores from ``lo`` until :func:`mem_room` says the image is full and returns (where
        it stopped, words added); the image grows between calls. The words added (counted).

        >>> @numba.njit
        ... def put(slots, cells, meta, lo, addrs):
        ...     added = 0
        ...     for i in range(lo, len(addrs)):
        ...         if not mem_room(slots, cells, meta, 1):
        ...             return i, added
        ...         added += mem_put(slots, cells, meta, addrs[i], 1)
        ...     return len(addrs), added
        >>> m = Memory(); m.fill(put, 100, np.arange(100) * 4096), len(m), m.rows()
        (100, 100, 100)
        """
        lo = added = 0
        while True:  # the image grows as it fills
            lo, more = writer(*self.table(), lo, *args)
            added += more
            if lo >= n:
                break
            self.reserve(1)
        self._n += added
        return added

    def arrays(self, start: int = 0, end: int = 1 << 63) -> tuple[np.ndarray, np.ndarray]:
        """(addresses ascending as uint64, words as int64 bit patterns) of the words present
        in ``[start, end)`` (default: all): a sorted copy."""
        keys = self.slots[0::2]
        used = keys >= 0
        if start > 0 or end < 1 << 63:
            used &= (keys >= start >> ROW_SHIFT) & (keys <= (end - 1) >> ROW_SHIFT)
        keys, rows = keys[used], self.slots[1::2][used]
        order = np.argsort(keys)
        keys, rows = keys[order], rows[order]
        cells = (rows[:, None] * ROW_WORDS + np.arange(ROW_WORDS)).ravel()
        addrs = ((keys[:, None] << ROW_SHIFT) + 8 * np.arange(ROW_WORDS)).ravel()
        words = self.cells[cells]
        keep = (words != 0) & (addrs >= start) & (addrs < end)
        return addrs[keep].astype(np.uint64), words[keep]

    @property
    def words(self) -> MappingProxyType[int, int]:
        """A read-only snapshot {address: word} (for tests and debugging: O(size))."""
        addrs, words = self.arrays()
        return MappingProxyType(dict(zip(addrs.tolist(), words.view(np.uint64).tolist(),
                                         strict=True)))

    def __getstate__(self) -> dict[str, object]:
        # memoryviews do not pickle or copy: rebuild them from the arrays
        return {"slots": self.slots, "cells": self.cells, "meta": self.meta, "n": self._n}

    def __setstate__(self, state: dict[str, object]) -> None:
        self._n = state["n"]
        self.meta = state["meta"].copy()
        self._mv = memoryview(self.meta)
        slots, words = state["slots"], state["cells"]
        self._slots((len(slots) >> 1).bit_length() - 1)
        self.slots[:] = slots
        self.cells = words.copy()
        self._wv = memoryview(self.cells.view(np.uint64))


class FrameAllocator:
    """Bump allocator of naturally aligned physical regions, starting at ``base``.

    >>> a = FrameAllocator(0x3000); hex(a.alloc()), hex(a.alloc(PAGE_2M)), hex(a.alloc())
    ('0x3000', '0x200000', '0x400000')
    """

    def __init__(self, base: int, limit: int = 1 << 52) -> None:
        self.next = base
        self.limit = limit

    def alloc(self, size: int = PAGE_4K) -> int:
        """A fresh region of ``size`` bytes aligned to ``size``."""
        addr = -(-self.next // size) * size
        if addr + size > self.limit:
            raise MemoryError(f"allocator exhausted below {self.limit:#x}")
        self.next = addr + size
        return addr


@dataclass(frozen=True)
class Mapping:
    """One mapped page as the builder recorded it."""

    va: int
    pa: int
    size: int
    writable: bool
    user: bool
    nx: bool


class PageTable:
    """A radix page table of ``levels`` levels, built through ``read``/``write`` of its space.

    ``alloc`` returns a fresh zeroed 4 KiB table page (an address in the table's own space);
    ``record``: keep :attr:`mappings` (the tests' oracle).
    """

    def __init__(self, levels: int, alloc: Callable[[], int], read: Callable[[int], int],
                 write: Callable[[int, int], None], *, record: bool = True) -> None:
        if not 2 <= levels <= 5:
            raise ValueError(f"levels: expected 2 .. 5, got {levels}")
        self.levels = levels
        self.va_bits = level_shift(levels) + 9
        """Address bits the table translates."""
        self._alloc, self._read, self._write = alloc, read, write
        self.root = alloc()
        self.record = record
        self.mappings: dict[int, Mapping] = {}
        """What was mapped, by address (empty unless ``record``)."""

    @classmethod
    def in_memory(cls, mem: Memory, levels: int, alloc: FrameAllocator, *,
                  record: bool = True) -> PageTable:
        """A table whose space is ``mem`` itself (native or host table)."""
        return cls(levels, alloc.alloc, mem.read, mem.write, record=record)

    def entry_address(self, va: int, level: int) -> int | None:
        """Address of ``va``'s level-``level`` entry, or None if the path stops above it."""
        base = self.root
        for L in range(self.levels, level, -1):
            e = self._read(base + 8 * index(va, L))
            if not e & PRESENT or (e & PS and L in (2, 3)):
                return None
            base = e & FRAME_MASK
        return base + 8 * index(va, level)

    def set_entry(self, va: int, level: int, word: int) -> None:
        """Overwrite ``va``'s level-``level`` entry (to build faulting or odd tables)."""
        addr = self.entry_address(va, level)
        if addr is None:
            raise ValueError(f"va: no level-{level} table on the path of {va:#x}")
        self._write(addr, word)

    def map(self, va: int, pa: int, size: int = PAGE_4K, *, writable: bool = True,
            user: bool = True, nx: bool = False) -> None:
        """Map the page of ``size`` at ``va`` to ``pa`` (both ``size``-aligned)."""
        if size not in PAGE_SIZES:
            raise ValueError(f"size: expected one of {PAGE_SIZES}, got {size}")
        leaf = PAGE_SIZES.index(size) + 1
        if leaf > self.levels:
            raise ValueError(f"size: a {size:#x} page needs more than {self.levels} levels")
        if va % size or pa % size or va >> self.va_bits:
            raise ValueError(f"va/pa: expected {size:#x}-aligned addresses inside the table, "
                             f"got {va:#x} -> {pa:#x}")
        base = self.root
        for L in range(self.levels, leaf, -1):
            addr = base + 8 * index(va, L)
            e = self._read(addr)
            if not e & PRESENT:
                e = make_entry(self._alloc())
                self._write(addr, e)
            elif e & PS and L in (2, 3):
                raise ValueError(f"va: {va:#x} lies inside a larger page mapped at level {L}")
            base = e & FRAME_MASK
        addr = base + 8 * index(va, leaf)
        old = self._read(addr)
        if old & PRESENT and leaf > 1 and not old & PS:
            raise ValueError(f"va: {va:#x} already has smaller pages below level {leaf}")
        self._write(addr, make_entry(pa, writable=writable, user=user, nx=nx, huge=leaf > 1))
        if self.record:
            self.mappings[va] = Mapping(va, pa, size, writable, user, nx)

    def unmap(self, va: int, size: int = PAGE_4K) -> None:
        """Clear the leaf mapping ``va`` (its page-table pages stay allocated)."""
        self.set_entry(va, PAGE_SIZES.index(size) + 1, 0)
        self.mappings.pop(va, None)

    def lookup(self, va: int) -> Mapping | None:
        """The recorded mapping covering ``va`` (from ``mappings``, not from memory)."""
        for size in PAGE_SIZES:
            m = self.mappings.get(va - va % size)
            if m is not None and m.size == size:
                return m
        return None

    def translate(self, va: int) -> tuple[int, int] | None:
        """(physical address, page size) by reading the table, or None when not mapped."""
        base = self.root
        for L in range(self.levels, 0, -1):
            e = self._read(base + 8 * index(va, L))
            if not e & PRESENT:
                return None
            if L == 1 or (e & PS and L in (2, 3)):
                size = 1 << level_shift(L)
                return (e & FRAME_MASK & ~(size - 1)) | va % size, size
            base = e & FRAME_MASK
        raise AssertionError("unreachable: level 1 always ends the walk")


class NestedImage:
    """Host memory holding a host (EPT) table and a guest table the host table backs.

    Guest table pages are allocated in guest-physical space from ``guest_base``, and each is
    backed on allocation by a host page of ``host_page`` bytes (allocated from ``host_base``),
    so the guest's entries live at the host-physical addresses the walker will read.
    ``map`` backs the guest page it maps too (every host page of it, or only the first when a
    guest page spans more than 512 host pages; call ``back`` for others).

    >>> img = NestedImage(guest_levels=4, host_levels=4)
    >>> img.map(0x400000, 0x80000)
    >>> g, _ = img.guest.translate(0x400123); h, _ = img.ept.translate(g)
    >>> hex(g), img.translate(0x400123) == h
    ('0x80123', True)
    """

    def __init__(self, guest_levels: int = 4, host_levels: int = 4, host_page: int = PAGE_4K,
                 guest_base: int = 0x100000, host_base: int = 0x4000000) -> None:
        if host_page not in PAGE_SIZES:
            raise ValueError(f"host_page: expected one of {PAGE_SIZES}, got {host_page}")
        self.mem = Memory()
        self.host_page = host_page
        self.host_alloc = FrameAllocator(host_base)
        self.guest_alloc = FrameAllocator(guest_base)
        self.ept = PageTable.in_memory(self.mem, host_levels, self.host_alloc)
        self.guest = PageTable(guest_levels, self._guest_table_page, self.read_gpa,
                               self.write_gpa)

    def _guest_table_page(self) -> int:
        gpa = self.guest_alloc.alloc()
        self.back(gpa)
        return gpa

    def back(self, gpa: int) -> int:
        """Map the host page containing ``gpa`` (if unmapped); return the host-physical address."""
        hit = self.ept.translate(gpa)
        if hit is not None:
            return hit[0]
        base = gpa - gpa % self.host_page
        self.ept.map(base, self.host_alloc.alloc(self.host_page), self.host_page)
        return self.back(gpa)

    def read_gpa(self, gpa: int) -> int:
        """The word at guest-physical ``gpa`` (0 when unbacked)."""
        hit = self.ept.translate(gpa)
        return 0 if hit is None else self.mem.read(hit[0])

    def write_gpa(self, gpa: int, word: int) -> None:
        """Store a word at guest-physical ``gpa``, backing it first."""
        self.mem.write(self.back(gpa), word)

    def map(self, va: int, gpa: int, size: int = PAGE_4K, **perms: bool) -> None:
        """Map a guest page (keywords as ``PageTable.map``) and back it in the host table."""
        self.guest.map(va, gpa, size, **perms)
        pages = size // self.host_page
        for k in range(1 if pages > 512 else max(pages, 1)):
            self.back(gpa + k * self.host_page)

    def translate(self, va: int) -> int | None:
        """Host-physical address of guest-virtual ``va`` by reading both tables, or None."""
        g = self.guest.translate(va)
        if g is None:
            return None
        h = self.ept.translate(g[0])
        return None if h is None else h[0]
