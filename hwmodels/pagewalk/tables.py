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

_M64 = (1 << 64) - 1
_EMPTY = -1
"""Key of an empty slot (addresses are >= 0)."""
_MIN_BITS = 6


@numba.njit(cache=True)
def _rehash(keys, vals, new_keys, new_vals, shift):
    """Insert every occupied slot of (``keys``, ``vals``) into the empty larger table."""
    mask = len(new_keys) - 1
    for j in range(len(keys)):
        a = keys[j]
        if a >= 0:
            i = np.int64((np.uint64(a >> 3) * np.uint64(HASH_MUL)) >> np.uint64(shift))
            while new_keys[i] >= 0:
                i = (i + 1) & mask
            new_keys[i] = a
            new_vals[i] = vals[j]


@numba.njit(cache=True)
def _clear(keys, vals, shift, addr, n):
    """Delete the words present at ``addr``, ``addr + 8``, ... (``n`` words); how many were.

    Backward-shift deletion: after emptying a slot, later entries of its probe run move back
    into the hole unless their home slot lies cyclically in (hole, entry], where a probe for
    them never passes the hole; so every entry stays reachable and no tombstone is left."""
    mask = len(keys) - 1
    removed = 0
    for w in range(n):
        a = addr + 8 * w
        i = np.int64((np.uint64(a >> 3) * np.uint64(HASH_MUL)) >> np.uint64(shift))
        while keys[i] != a and keys[i] >= 0:
            i = (i + 1) & mask
        if keys[i] != a:
            continue
        j = i
        while True:
            j = (j + 1) & mask
            k = keys[j]
            if k < 0:
                break
            h = np.int64((np.uint64(k >> 3) * np.uint64(HASH_MUL)) >> np.uint64(shift))
            stays = (i < h and h <= j) if i <= j else (h > i or h <= j)
            if not stays:
                keys[i] = k
                vals[i] = vals[j]
                i = j
        keys[i] = _EMPTY
        vals[i] = 0
        removed += 1
    return removed


@numba.njit(cache=True)
def mem_get(keys, vals, shift, addr):
    """The word at ``addr`` of a :class:`Memory` table (0: absent), as an int64 bit pattern:
    :meth:`Memory.read` for compiled code."""
    mask = len(keys) - 1
    i = np.int64((np.uint64(addr >> 3) * np.uint64(HASH_MUL)) >> np.uint64(shift))
    while keys[i] != addr:
        if keys[i] < 0:
            return np.int64(0)
        i = (i + 1) & mask
    return vals[i]


@numba.njit(cache=True)
def mem_put(keys, vals, shift, addr, word):
    """Store a non-zero ``word`` (int64 bit pattern) at ``addr`` of a :class:`Memory` table
    that has an empty slot; 1 when the word is new (the caller counts it and grows the table
    as :meth:`Memory.write` would: :meth:`Memory.added`, :meth:`Memory.reserve`), 0 when it
    replaced one."""
    mask = len(keys) - 1
    i = np.int64((np.uint64(addr >> 3) * np.uint64(HASH_MUL)) >> np.uint64(shift))
    while keys[i] != addr:
        if keys[i] < 0:
            keys[i] = addr
            vals[i] = word
            return 1
        i = (i + 1) & mask
    vals[i] = word
    return 0


class Memory:
    """Sparse physical memory of aligned 64-bit words; an absent word reads 0.

    The image is an open-addressing hash table in two numpy arrays that compiled kernels read
    directly (:meth:`table`) and writes update in place, so a walker never rebuilds it: ``keys``
    holds word addresses (-1: empty slot), ``vals`` the words as int64 bit patterns. A word's
    home slot is the top ``64 - shift`` bits of ``(addr >> 3) * HASH_MUL mod 2**64``; linear
    probing; at most half the slots are used (the table doubles past that), so a probe ends at
    an empty slot; writing 0 deletes by backward shift, so no tombstones lengthen probes.

    >>> m = Memory(); m.write(0x1008, 7); m.read(0x1008), m.read(0x2000), len(m)
    (7, 0, 1)
    >>> m.arrays()[0].tolist()
    [4104]
    >>> m.write(0x1008, 0); len(m)
    0
    """

    def __init__(self) -> None:
        self._n = 0
        self._alloc(_MIN_BITS)

    def _alloc(self, bits: int) -> None:
        """Empty arrays of ``2**bits`` slots (and the views the Python paths index)."""
        self.keys = np.full(1 << bits, _EMPTY, dtype=np.int64)
        self.vals = np.zeros(1 << bits, dtype=np.int64)
        self.shift = 64 - bits
        self._mask = (1 << bits) - 1
        # Indexing a memoryview gives and takes Python ints, several times faster than numpy
        # scalars; the unsigned view of ``vals`` reads words back as 0 .. 2**64 - 1.
        self._kv = memoryview(self.keys)
        self._vv = memoryview(self.vals.view(np.uint64))

    def table(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(keys, vals, shift): the live hash table for compiled readers (see the class).

        Valid until the next write that grows the table (it reallocates): fetch it again.

        >>> m = Memory(); m.write(0x40, 9); keys, vals, shift = m.table()
        >>> int(vals[keys == 0x40][0]), len(keys), shift
        (9, 64, 58)
        """
        return self.keys, self.vals, self.shift

    def read(self, addr: int) -> int:
        """The word at ``addr`` (8-byte aligned)."""
        kv, mask = self._kv, self._mask
        i = ((addr >> 3) * HASH_MUL & _M64) >> self.shift
        k = kv[i]
        while k != addr:
            if k < 0:
                return 0
            i = (i + 1) & mask
            k = kv[i]
        return self._vv[i]

    def write(self, addr: int, word: int) -> None:
        """Store ``word`` at ``addr``; writing 0 removes the word."""
        if addr & 7 or not 0 <= addr < 1 << 63:
            raise ValueError(f"addr: expected an 8-byte aligned address, got {addr:#x}")
        if not 0 <= word < 1 << 64:
            raise ValueError(f"word: expected a 64-bit value, got {word:#x}")
        kv, mask = self._kv, self._mask
        i = ((addr >> 3) * HASH_MUL & _M64) >> self.shift
        k = kv[i]
        while k != addr:
            if k < 0:  # absent
                if word:
                    kv[i] = addr
                    self._vv[i] = word
                    self._n += 1
                    if 2 * self._n > len(kv):
                        self._grow()
                return
            i = (i + 1) & mask
            k = kv[i]
        if word:
            self._vv[i] = word
        else:
            self._n -= _clear(self.keys, self.vals, self.shift, addr, 1)

    def clear(self, addr: int, size: int) -> None:
        """Remove every word in ``[addr, addr + size)`` (both multiples of 8): one compiled
        call for, say, a freed table page instead of a ``write(a, 0)`` per word.

        >>> m = Memory(); m.write(0x1000, 1); m.write(0x1ff8, 2); m.write(0x2000, 3)
        >>> m.clear(0x1000, 0x1000); len(m), m.read(0x2000)
        (1, 3)
        """
        if addr & 7 or size & 7 or addr < 0 or size < 0 or addr + size > 1 << 63:
            raise ValueError(f"addr, size: expected 8-byte aligned, got {addr:#x}, {size:#x}")
        self._n -= _clear(self.keys, self.vals, self.shift, addr, size >> 3)

    def _grow(self) -> None:
        keys, vals = self.keys, self.vals
        self._alloc(64 - self.shift + 1)
        _rehash(keys, vals, self.keys, self.vals, self.shift)

    def __len__(self) -> int:
        return self._n

    def reserve(self, words: int) -> None:
        """Grow the table now, as writes would, so that ``words`` more words fit: compiled
        writers insert with :func:`mem_put` into :meth:`table` and report how many they added
        (:meth:`added`).

        >>> m = Memory(); m.reserve(40); len(m.table()[0])
        128
        """
        while 2 * (self._n + words) > len(self.keys):
            self._grow()

    def added(self, words: int) -> None:
        """Count ``words`` new words a compiled writer stored (see :meth:`reserve`)."""
        self._n += words

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(addresses ascending as uint64, words as int64 bit patterns): a sorted copy."""
        used = self.keys >= 0
        addrs = self.keys[used]
        order = np.argsort(addrs)
        return addrs[order].astype(np.uint64), self.vals[used][order]

    @property
    def words(self) -> MappingProxyType[int, int]:
        """A read-only snapshot {address: word} (for tests and debugging: O(size))."""
        addrs, words = self.arrays()
        return MappingProxyType(dict(zip(addrs.tolist(), words.view(np.uint64).tolist(),
                                         strict=True)))

    def __getstate__(self) -> dict[str, object]:
        # memoryviews do not pickle or copy: rebuild them from the arrays
        return {"keys": self.keys, "vals": self.vals, "n": self._n}

    def __setstate__(self, state: dict[str, object]) -> None:
        keys, vals = state["keys"], state["vals"]
        self._n = state["n"]
        self._alloc(len(keys).bit_length() - 1)
        self.keys[:], self.vals[:] = keys, vals


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
