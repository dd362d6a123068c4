"""Values appended in pieces that may not fit in memory: kept in memory up to a limit, then in
an unnamed temporary file; and sorted sources merged a block at a time.

A stream of hundreds of millions of references or frames yields per-item results (a
latency, a dirtied page) that a consumer needs again later, whole or in order. A
:class:`Spill` holds them: appended a piece at a time, read back a block at a time
(:meth:`Spill.blocks`) or as one array (:meth:`Spill.array`: in memory, or a read-only
memory map of the file, whose pages the kernel may drop, so the process's own memory stays
bounded whatever the count). :func:`merge_sorted` merges two such sources, sorted, a block
at a time.

>>> s = Spill(np.int64, in_memory=3)
>>> s.add(np.array([1, 2])); s.add(np.array([3, 4, 5]))
>>> s.spilled, len(s), s.array().tolist(), [b.tolist() for b in s.blocks(2)]
(True, 5, [1, 2, 3, 4, 5], [[1, 2], [3, 4], [5]])
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

import numpy as np

Columns = tuple[np.ndarray, ...]
"""A block of items, column by column."""


class Spill:
    """Values of one dtype appended in pieces (see the module docstring)."""

    def __init__(self, dtype: Any, in_memory: int = 1 << 24) -> None:
        self.dtype = np.dtype(dtype)
        self.in_memory = in_memory
        self._count = 0
        self._kept: list[np.ndarray] = []
        self._file: IO[bytes] | None = None

    def __len__(self) -> int:
        return self._count

    @property
    def spilled(self) -> bool:
        """Whether the values went to the file."""
        return self._file is not None

    def add(self, values: np.ndarray) -> None:
        """Append ``values`` (converted to the dtype)."""
        values = np.ascontiguousarray(values, dtype=self.dtype)
        if not len(values):
            return
        self._count += len(values)
        if self._file is None and self._count > self.in_memory:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives with the object
            for kept in self._kept:
                kept.tofile(self._file)
            self._kept = []
        if self._file is not None:
            values.tofile(self._file)
        else:
            self._kept.append(values.copy())

    def blocks(self, size: int = 1 << 22) -> Iterator[np.ndarray]:
        """The values in order, at most ``size`` at a time (a new pass each call)."""
        if self._file is None:
            for kept in self._kept:
                for lo in range(0, len(kept), size):
                    yield kept[lo:lo + size]
            return
        self._file.flush()
        self._file.seek(0)
        left = self._count
        while left:
            b = np.fromfile(self._file, dtype=self.dtype, count=min(size, left))
            if not len(b):
                raise OSError("a spill file is shorter than what was written to it")
            left -= len(b)
            yield b

    def array(self) -> np.ndarray:
        """Every value as one array: joined in memory, or a read-only map of the file."""
        if self._file is None:
            if len(self._kept) == 1:
                return self._kept[0]
            return np.concatenate(self._kept) if self._kept else np.zeros(0, self.dtype)
        self._file.flush()
        return np.memmap(self._file, dtype=self.dtype, mode="r", shape=(self._count,))

    def close(self) -> None:
        """Drop the values (and the file)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._kept = []
        self._count = 0


def merge_sorted(first: Iterable[Columns], second: Iterable[Columns], key: int = 0,
                 ) -> Iterator[Columns]:
    """Two sources of blocks of columns, each source sorted by its ``key`` column, merged by
    it, ``first``'s items before ``second``'s at a tie: the pieces of one stable merge of
    the two whole sources. An item goes out once both sources are past its key (or done),
    so each source is held for at most a block or so.

    >>> def blocks(keys, tag):
    ...     for k in keys:
    ...         yield np.array(k), np.full(len(k), tag)
    >>> out = merge_sorted(blocks([[0, 5], [5, 9]], 1), blocks([[5], [6, 20]], 2))
    >>> [(k.tolist(), t.tolist()) for k, t in out]
    [([0], [1]), ([5, 5, 5, 6], [1, 1, 2, 2]), ([9], [1]), ([20], [2])]
    """
    its = [iter(first), iter(second)]
    bufs: list[Columns | None] = [None, None]
    live = [True, True]

    def pull(i: int) -> None:
        nxt = next(its[i], None)
        if nxt is None:
            live[i] = False
        elif bufs[i] is None:
            bufs[i] = nxt
        else:
            bufs[i] = tuple(np.concatenate([a, b]) for a, b in zip(bufs[i], nxt, strict=True))

    for i in (0, 1):
        while live[i] and (bufs[i] is None or not len(bufs[i][key])):
            pull(i)
    while True:
        lasts = [bufs[i][key][-1] for i in (0, 1) if live[i]]
        bound = min(lasts) if lasts else None
        out = []
        for i in (0, 1):
            b = bufs[i]
            if b is None:
                continue
            cut = len(b[key]) if bound is None else int(np.searchsorted(b[key], bound, "left"))
            out.append(tuple(c[:cut] for c in b))
            bufs[i] = tuple(c[cut:] for c in b)
        if out:
            cols = tuple(np.concatenate(c) for c in zip(*out, strict=True))
            if len(cols[key]):
                order = np.argsort(cols[key], kind="stable")
                yield tuple(c[order] for c in cols)
        if bound is None:
            return
        for i in (0, 1):  # the sources at the bound go on (at least one)
            if live[i] and bufs[i][key][-1] == bound:
                pull(i)
                while live[i] and not len(bufs[i][key]):
                    pull(i)
