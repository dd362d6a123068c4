"""Delivery metrics of a packet stream in bounded memory, exactly whatever the pieces.

A NIC run's latency and throughput metrics (:func:`codesign.net.common.metrics`) are
functions of every delivered frame: its departure, its first byte on the port, its size and
direction. A stream of 1e8 frames cannot keep those (800 MB a column), so the run adds the
frames it delivers a piece at a time to a :class:`Deliveries`, which keeps counts, sums,
extremes, and the latencies for their order statistics -- in memory up to a limit, in an
unnamed temporary file beyond it. Every figure is a function of the multiset of deliveries,
not of their order or of how they were cut into pieces, so a run fed whole and one fed a
frame at a time give the same bits (``tests/net/test_tally.py``):

- sums of integers (frame bytes) are exact integers;
- the mean latency is the *exact* mean, rounded once (:class:`ExactSum`): a running
  floating-point sum would depend on the order and the cuts;
- percentiles are exact nearest-rank order statistics (:class:`Ranks`), the spilled ones
  found by radix selection over the file (16 bits of the value's order key a pass).

>>> d = Deliveries()
>>> d.add(np.array([300.0, 600.0]), np.array([0.0, 50.0]), np.array([64, 64]),
...       np.array([1, 1]))
>>> d.add(np.array([1300.0]), np.array([1000.0]), np.array([1518]), np.array([2]))
>>> d.count, d.latency_us()
(3, {'latency.mean_us': 0.38333333333333336, 'latency.p50_us': 0.3, 'latency.p99_us': 0.55})
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numba
import numpy as np

from codesign.spill import Spill

_SCALE = 1074 + 53
"""An ExactSum's total is an integer times 2**-_SCALE: a float64's mantissa of 53 bits times
2**(e - 53) with e >= -1073 (frexp's exponent of the smallest subnormal) is then an integer."""
_HALF = 26
_LOW_EXP = -1073
"""frexp's exponent of the smallest subnormal; 1024 that of the largest float."""
_EXPONENTS = 1024 - _LOW_EXP + 1


@numba.njit(cache=True)
def _parts(bits, top, bottom):  # pragma: no cover (compiled)
    # Each float64 (its bits) as m * 2**(e - 53) with m a 53-bit integer (the mantissa with
    # its hidden bit; a subnormal's without, at the smallest normal exponent), its two halves
    # summed per exponent: each half is below 2**27 in size, so a piece of up to 2**26 values
    # sums exactly in int64. False at a value that is not finite.
    low = (1 << _HALF) - 1
    for i in range(len(bits)):
        b = bits[i]
        field = np.int64((b >> np.uint64(52)) & np.uint64(0x7FF))
        if field == 0x7FF:
            return False
        m = np.int64(b & np.uint64((1 << 52) - 1))
        if field:
            m += np.int64(1) << 52
        else:
            field = 1
        if m == 0:
            continue
        if b >> np.uint64(63):
            m = -m
        k = field - 1022 - _LOW_EXP
        top[k] += m >> _HALF
        bottom[k] += m & low
    return True


class ExactSum:
    """The exact sum of float64 values added in pieces, rounded once when read: the same
    bits whatever the order of the values and however they were cut.

    Each value is read from its bits as a 53-bit integer mantissa and an exponent; per
    exponent the mantissas' two halves (27 and 26 bits) are summed in int64 by a compiled
    pass (:func:`_parts`), exact for pieces of up to 2**26 values, and folded into one
    Python integer.

    >>> s = ExactSum(); s.add(np.array([1e16, 1.0, -1e16])); s.add(np.array([1.0]))
    >>> s.value(), s.mean(4), float(np.sum([1e16, 1.0, -1e16, 1.0]))
    (2.0, 0.5, 1.0)
    """

    PIECE = 1 << 26

    def __init__(self) -> None:
        self._total = 0  # times 2**-_SCALE

    def add(self, values: np.ndarray) -> None:
        """Add ``values`` (finite; ValueError otherwise)."""
        values = np.asarray(values, dtype=np.float64).ravel()
        for lo in range(0, len(values), self.PIECE):
            self._add(values[lo:lo + self.PIECE])

    def _add(self, values: np.ndarray) -> None:
        if not len(values):
            return
        top = np.zeros(_EXPONENTS, dtype=np.int64)
        bottom = np.zeros(_EXPONENTS, dtype=np.int64)
        if not _parts(np.ascontiguousarray(values).view(np.uint64), top, bottom):
            raise ValueError("ExactSum: a value is not finite")
        for i in np.flatnonzero((top != 0) | (bottom != 0)).tolist():
            part = (int(top[i]) << _HALF) + int(bottom[i])
            self._total += part << (i + _LOW_EXP - 53 + _SCALE)

    def value(self) -> float:
        """The sum, correctly rounded (infinite beyond the largest float)."""
        return _rounded(Fraction(self._total, 1 << _SCALE))

    def mean(self, n: int) -> float:
        """The sum over ``n``, correctly rounded (0.0 for ``n`` 0)."""
        return _rounded(Fraction(self._total, n << _SCALE)) if n else 0.0


def _rounded(x: Fraction) -> float:
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def order_keys(values: np.ndarray) -> np.ndarray:
    """uint64 keys in the order of the float64 ``values`` (negative ones included).

    >>> v = np.array([2.0, -1.0, 0.5, -3.0])
    >>> v[np.argsort(order_keys(v))].tolist()
    [-3.0, -1.0, 0.5, 2.0]
    """
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    neg = (bits >> np.uint64(63)).astype(bool)
    return np.where(neg, ~bits, bits | np.uint64(1 << 63))


class Ranks:
    """Values added in pieces, for exact order statistics: kept in memory up to
    ``in_memory`` values, then in an unnamed temporary file (a
    :class:`~codesign.spill.Spill`), read a block at a time.

    >>> r = Ranks(in_memory=3)
    >>> for v in ([5.0, 1.0], [4.0, 2.0], [3.0]):
    ...     r.add(np.array(v))
    >>> r.spilled, r.select([0, 2, 4])
    (True, [1.0, 3.0, 5.0])
    """

    BLOCK = 1 << 22
    """Values read from the file at a time (32 MiB)."""

    def __init__(self, in_memory: int = 1 << 23) -> None:
        self.in_memory = in_memory
        self._values = Spill(np.float64, in_memory)

    @property
    def count(self) -> int:
        """Values added."""
        return len(self._values)

    @property
    def spilled(self) -> bool:
        """Whether the values went to the file."""
        return self._values.spilled

    def add(self, values: np.ndarray) -> None:
        """Add ``values`` (float64)."""
        self._values.add(values)

    def close(self) -> None:
        """Drop the values (and the file)."""
        self._values.close()

    def select(self, ranks: Sequence[int]) -> list[float]:
        """The values of the given 0-based ranks in ascending order (each ``< count``)."""
        if any(not 0 <= r < self.count for r in ranks):
            raise ValueError(f"ranks {list(ranks)} outside 0..{self.count - 1}")
        if not self.spilled:
            part = np.partition(self._values.array(), list(ranks))
            return [float(part[r]) for r in ranks]
        return [self._radix_select(r) for r in ranks]

    def _radix_select(self, rank: int) -> float:
        # 16 bits of the order key a pass over the file, until the values sharing the
        # prefix found so far fit in memory; then one more pass gathers them.
        prefix, shift, below = 0, 64, 0
        while True:
            hist = np.zeros(1 << 16, dtype=np.int64)
            for b in self._values.blocks(self.BLOCK):
                k = order_keys(b)
                if shift < 64:
                    k = k[k >> np.uint64(shift) == prefix]
                hist += np.bincount((k >> np.uint64(shift - 16)).astype(np.int64)
                                    & 0xFFFF, minlength=1 << 16)
            cum = np.cumsum(hist)
            digit = int(np.searchsorted(cum, rank - below, side="right"))
            below += int(cum[digit - 1]) if digit else 0
            prefix = (prefix << 16) | digit
            shift -= 16
            if hist[digit] <= self.in_memory or shift == 0:  # the values sharing the prefix
                break
        parts = [b[order_keys(b) >> np.uint64(shift) == prefix]
                 for b in self._values.blocks(self.BLOCK)]
        values = np.concatenate(parts)
        return float(np.partition(values, rank - below)[rank - below])


class Deliveries:
    """What :func:`codesign.net.common.metrics` reads of the delivered frames, added a piece
    at a time: the count and the first and last departure (all and per direction), the
    frame bytes per direction, and the latencies (mean and nearest-rank percentiles)."""

    def __init__(self, in_memory: int = 1 << 23) -> None:
        self.count = 0
        self.first = math.inf
        self.last = -math.inf
        # per direction code (1 RX, 2 TX): [count, frame bytes, first, last departure]
        self.per_dir: dict[int, list[float]] = {1: [0, 0, math.inf, -math.inf],
                                                2: [0, 0, math.inf, -math.inf]}
        self._sum = ExactSum()
        self._ranks = Ranks(in_memory)

    def add(self, depart_ns: np.ndarray, port_ns: np.ndarray, frame_bytes: np.ndarray,
            direction: np.ndarray) -> None:
        """Add delivered frames: departure and first byte on the port (ns), size, direction."""
        n = len(depart_ns)
        if not n:
            return
        self.count += n
        self.first = min(self.first, float(depart_ns.min()))
        self.last = max(self.last, float(depart_ns.max()))
        for code, acc in self.per_dir.items():
            mine = direction == code
            if not mine.any():
                continue
            dep = depart_ns[mine]
            acc[0] += len(dep)
            acc[1] += int(frame_bytes[mine].astype(np.int64).sum())
            acc[2] = min(acc[2], float(dep.min()))
            acc[3] = max(acc[3], float(dep.max()))
        lat = (depart_ns - port_ns) / 1e3
        self._sum.add(lat)
        self._ranks.add(lat)

    def throughput_pps(self) -> float:
        """``(n - 1)`` departures over the first to the last (as ``Result.throughput_pps``)."""
        if self.count < 2 or self.last <= self.first:
            return 0.0
        return (self.count - 1) * 1e9 / (self.last - self.first)

    def goodput(self, code: int, overhead: int) -> tuple[float, float]:
        """(goodput, wire rate) in Gb/s of one direction: ``n - 1`` departures over its span
        times the mean frame, without and with ``overhead`` bytes a frame."""
        n, size, first, last = self.per_dir[code]
        span = last - first if n > 1 else 0.0
        if span <= 0:
            return 0.0, 0.0
        pps = (n - 1) * 1e9 / span
        mean = float(size) / n
        return pps * 8 * mean / 1e9, pps * 8 * (mean + overhead) / 1e9

    def latency_us(self) -> dict[str, float]:
        """``latency.mean_us`` (the exact mean, rounded once), ``.p50_us`` and ``.p99_us``
        (nearest rank, as :func:`codesign.metrics.percentile`); zeros for no delivery."""
        n = self.count
        if not n:
            return {"latency.mean_us": 0.0, "latency.p50_us": 0.0, "latency.p99_us": 0.0}
        ranks = [max(math.ceil(q * n / 100.0) - 1, 0) for q in (50, 99)]
        p50, p99 = self._ranks.select(ranks)
        return {"latency.mean_us": self._sum.mean(n), "latency.p50_us": p50,
                "latency.p99_us": p99}
