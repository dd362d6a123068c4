"""Per-frame state of a VM's guest-physical memory in numpy arrays, not dicts.

The guest model allocates frames with a bump allocator from the bottom of guest-physical
memory and keeps the kernel's own memory at the top, so what it records per frame -- the host
page backing it, how many leaves reference an allocation, which frames are free -- fits dense
arrays: a value per page from 0 up, grown as memory is used, and a small one for the pages at
the top. A trace that touches a million pages then holds 8 bytes per page per record instead
of a Python dict entry and its boxed integers (about 100 bytes), and the compiled fault path
(:mod:`codesign.mmu.guestkernel`) fills them in bulk.

>>> m = FrameMap(4096, top=1 << 30, end=(1 << 30) + (8 << 12))
>>> m[0x5000] = 77; m[(1 << 30) + 0x3000] = 9
>>> m.get(0x5000), m.get(0x6000), sorted(m.items())
(77, 0, [(20480, 77), (1073754112, 9)])
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class FrameStack:
    """Free frames of one size, last freed first, in a numpy array that the compiled fault
    path pops in place: ``arr[:n]``.

    >>> s = FrameStack(); s.append(0x5000); s.append(0x9000); s.pop(), len(s), list(s)
    (36864, 1, [20480])
    """

    def __init__(self) -> None:
        self.arr = np.zeros(16, dtype=np.int64)
        self.n = 0

    def append(self, frame: int) -> None:
        if self.n == len(self.arr):
            self.arr = np.concatenate([self.arr, np.zeros_like(self.arr)])
        self.arr[self.n] = frame
        self.n += 1

    def pop(self) -> int:
        if not self.n:
            raise IndexError("pop from an empty FrameStack")
        self.n -= 1
        return int(self.arr[self.n])

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        return iter(self.arr[:self.n].tolist())


class FrameMap:
    """A non-zero int64 per ``page``-aligned guest-physical address (0: none): a dense array
    from address 0 up, grown as higher pages are set, and one for the pages from ``top``
    (rounded down to a page) to ``end``."""

    def __init__(self, page: int, top: int, end: int) -> None:
        self.shift = page.bit_length() - 1
        self.top = top >> self.shift << self.shift
        self.high = np.zeros(max(1, (end - self.top + page - 1) >> self.shift), dtype=np.int64)
        self.low = np.zeros(1024, dtype=np.int64)
        self._views()

    def _views(self) -> None:
        # memoryview indexing takes and gives Python ints, far faster than numpy scalars
        self._lo, self._hi = memoryview(self.low), memoryview(self.high)

    def reserve(self, addr: int) -> None:
        """Make the low array reach ``addr`` (doubling)."""
        need = (addr >> self.shift) + 1
        if need > len(self.low):
            grown = np.zeros(max(need, 2 * len(self.low)), dtype=np.int64)
            grown[:len(self.low)] = self.low
            self.low = grown
            self._views()

    def get(self, addr: int) -> int:
        """The value of the page at ``addr`` (page-aligned), 0 when none."""
        if addr >= self.top:
            return self._hi[(addr - self.top) >> self.shift]
        i = addr >> self.shift
        return self._lo[i] if i < len(self._lo) else 0

    def get_many(self, addrs: np.ndarray) -> np.ndarray:
        """:meth:`get` of each page-aligned address of ``addrs`` (int64).

        >>> m = FrameMap(4096, top=1 << 30, end=(1 << 30) + (8 << 12))
        >>> m[0x5000] = 77; m[(1 << 30) + 0x3000] = 9
        >>> m.get_many(np.array([0x5000, (1 << 30) + 0x3000, 1 << 40, 0])).tolist()
        [77, 9, 0, 0]
        """
        addrs = np.asarray(addrs, dtype=np.int64)
        out = np.zeros(len(addrs), dtype=np.int64)
        up = addrs >= self.top
        hi = (addrs[up] - self.top) >> self.shift
        out[up] = self.high[np.minimum(hi, len(self.high) - 1)] * (hi < len(self.high))
        lo = addrs[~up] >> self.shift
        inside = lo < len(self.low)
        out[~up] = np.where(inside, self.low[np.minimum(lo, len(self.low) - 1)], 0)
        return out

    def __setitem__(self, addr: int, value: int) -> None:
        if addr >= self.top:
            self._hi[(addr - self.top) >> self.shift] = value
            return
        self.reserve(addr)
        self._lo[addr >> self.shift] = value

    def put(self, addrs: np.ndarray, values: np.ndarray | int) -> None:
        """Set many pages at once.

        >>> m = FrameMap(1 << 21, top=1 << 30, end=1 << 31)
        >>> m.put(np.array([0, 1 << 30]), np.array([5, 6])); m.get(0), m.get(1 << 30)
        (5, 6)
        """
        if len(addrs) <= 16:  # a few: numpy's per-call overhead would be most of the cost
            if isinstance(values, np.ndarray):
                for a, v in zip(addrs.tolist(), values.tolist(), strict=True):
                    self[a] = v
            else:
                for a in addrs.tolist():
                    self[a] = values
            return
        if not isinstance(values, np.ndarray):
            values = np.full(len(addrs), values, dtype=np.int64)
        up = addrs >= self.top
        if up.any():
            self.high[(addrs[up] - self.top) >> self.shift] = values[up]
            addrs, values = addrs[~up], values[~up]
        if len(addrs):
            self.reserve(int(addrs.max()))
            self.low[addrs >> self.shift] = values

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(addresses, values) of every page with a value, addresses ascending."""
        lo, hi = np.flatnonzero(self.low), np.flatnonzero(self.high)
        return (np.concatenate([lo << self.shift, self.top + (hi << self.shift)]),
                np.concatenate([self.low[lo], self.high[hi]]))

    def items(self) -> Iterator[tuple[int, int]]:
        """(address, value) of every page with a value, as a dict's ``items``."""
        addrs, values = self.arrays()
        return zip(addrs.tolist(), values.tolist(), strict=True)

    def keys(self) -> Iterator[int]:
        return iter(self.arrays()[0].tolist())

    def values(self) -> Iterator[int]:
        return iter(self.arrays()[1].tolist())


class RefCounts:
    """References to allocations, keyed as ``(base, size)`` (4 KiB or 2 MiB), as a dict
    would be; a count of 0 is no entry.

    >>> r = RefCounts(top=1 << 30); r[(0x200000, 1 << 21)] = 3; r[(0x5000, 4096)] += 1
    >>> r[(0x5000, 4096)], sorted(r.items())
    (1, [((20480, 4096), 1), ((2097152, 2097152), 3)])
    >>> del r[(0x5000, 4096)]; r[(0x5000, 4096)]
    0
    """

    def __init__(self, top: int) -> None:
        self.by_size = {size: FrameMap(size, top, top) for size in (1 << 12, 1 << 21)}

    # Allocations lie below ``top``, in the low arrays; a fork or an exit goes through these
    # once per leaf, so they index the memoryviews themselves.
    def __getitem__(self, key: tuple[int, int]) -> int:
        base, size = key
        m = self.by_size[size]
        i = base >> m.shift
        return m._lo[i] if i < len(m._lo) else 0

    def __setitem__(self, key: tuple[int, int], count: int) -> None:
        base, size = key
        m = self.by_size[size]
        i = base >> m.shift
        if i >= len(m._lo):
            m.reserve(base)
        m._lo[i] = count

    def __delitem__(self, key: tuple[int, int]) -> None:
        self[key] = 0

    def add(self, allocs: list[tuple[int, int]]) -> None:
        """One more reference to each allocation (a fork's copied leaves), in bulk."""
        for size, _, bases in _by_size(allocs):
            m = self.by_size[size]
            m.reserve(int(bases.max()))
            np.add.at(m.low, bases >> m.shift, 1)

    def release(self, allocs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """One reference fewer to each allocation, in order (an exit's or an unmap's
        leaves); the allocations left without any, in the order their count reached 0 --
        what releasing them one by one frees, and when.

        >>> r = RefCounts(top=1 << 30); r[(0x5000, 4096)] = 2; r[(0x9000, 4096)] = 1
        >>> r.release([(0x5000, 4096), (0x9000, 4096), (0x5000, 4096)])
        [(36864, 4096), (20480, 4096)]
        """
        freed: list[tuple[int, int, int]] = []  # (order, base, size)
        for size, at, bases in _by_size(allocs):
            m = self.by_size[size]
            uniq, inverse, n = np.unique(bases, return_inverse=True, return_counts=True)
            last = np.zeros(len(uniq), dtype=np.int64)
            np.maximum.at(last, inverse, at)  # the last release of each allocation
            slot = uniq >> m.shift
            left = m.low[slot] - n
            if (left < 0).any():
                raise AssertionError("released an allocation more often than referenced")
            m.low[slot] = left
            gone = np.flatnonzero(left == 0)
            freed += zip(last[gone].tolist(), uniq[gone].tolist(), [size] * len(gone),
                         strict=True)
        return [(base, size) for _, base, size in sorted(freed)]

    def items(self) -> Iterator[tuple[tuple[int, int], int]]:
        for size, frames in self.by_size.items():
            for base, count in frames.items():
                yield (base, size), count


def _by_size(allocs: list[tuple[int, int]]) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(size, positions in ``allocs``, bases) of each size present in ``allocs``."""
    if not allocs:
        return []
    arr = np.array(allocs, dtype=np.int64).reshape(-1, 2)
    out = []
    for size in np.unique(arr[:, 1]).tolist():
        at = np.flatnonzero(arr[:, 1] == size)
        out.append((size, at, arr[at, 0]))
    return out


__all__ = ["FrameMap", "FrameStack", "RefCounts"]
