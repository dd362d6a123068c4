"""Parameters of the data-cache hierarchy: frozen dataclasses, validated on construction.

The hierarchy is three levels, always named ``l1``, ``l2`` and ``llc`` (the L1 data cache, the
private second level, the last-level cache), so that metric names (``walk.refs.l1`` ...
``walk.refs.memory``) do not depend on the machine. A level of size 0 is absent: it never
holds a line and never serves a reference (a platform without an L3 sets ``cache.llc.size``
to 0; all three at 0 sends every reference to memory, the toolkit's behaviour before this
block existed). Every level shares one line size, as on the machines modelled.

Each level is set-associative with true LRU replacement; ``sets = size / (ways * line)``
must be a power of two (the set is the low bits of the line number). Errors are one-line
``ValueError``s naming the dotted key (``cache.l1.ways: ...``); the engine turns them into
``InputError`` as it does for the TLB's.

Defaults: a Nehalem-generation core (the ``kvm-nehalem`` platform's machine). All of them are
*assumptions* in ANCHORS.md's sense (no row there, no primary source confirmed here):

- line 64 B: the line size of every x86 core of that generation and since.
- L1D 32 KiB, 8-way, 4 cycles; L2 256 KiB, 8-way, 10 cycles; LLC 8 MiB, 16-way, 40 cycles:
  the figures widely quoted for the first Core i7, found here only in secondary sources
  (e.g. a computer-architecture course exercise, UMBC CMSC 611 "hw5", 2016; a press article
  on Nehalem quoting Intel's architects for an L3 load-to-use latency of "30-40 cycles",
  depending on the core/uncore clock ratio: 40 is the pessimistic end). Intel's
  optimization reference manual is the primary source to check them against.
- ``inclusion`` ``"nine"`` (non-inclusive, non-exclusive: a miss fills every level it
  missed, an eviction touches no other level): the usual simple model, chosen for being
  simple, not for being Nehalem's. Nehalem's L3 is reported inclusive of the cores'
  private caches; ``"inclusive"`` models that (an LLC eviction back-invalidates the line
  from L1 and L2).

**Placement** (``placement``, an *assumption* for sensitivity studies): physically indexed
caches see where the operating system put each page, and Linux does no page colouring, so
after some uptime a program's frames fall at no particular colour -- Kessler and Hill's
"arbitrary" placement ("Page placement algorithms for large real-indexed caches", ACM TOCS
10(4), 1992), which costs more conflict misses than the careful placements (page colouring,
bin hopping) they propose. The models' allocators hand frames out in order, which is
the opposite, a perfect colouring. ``"scattered"`` approximates an uncoloured allocator by
renaming each line before it is looked up: the frame keeps its 2 MiB block (so a 2 MiB page
covers every colour of its block, as a contiguous one does) and takes the block's keyed
permutation of its index in it; ``placement_seed`` keys the permutations, so several seeds
are several layouts. Where a working set is near a cache's capacity, results can move with
the layout; ``"ordered"`` (the default) keeps every result as before. Its limit: renaming
within a block cannot unbalance a block whose 512 frames are all in use, so only blocks
used in part get their colours at random; and two layouts that fill their blocks differently
get different amounts of conflict under ``"scattered"`` for that reason alone (the validation
report's VM-switching mix: each VM's memory natively in two half-used blocks, its host
backing in nearly full ones). ``"uncoloured"`` is Kessler and Hill's arbitrary placement
itself: every 4 KiB frame at a colour of its own, a keyed hash of its number, independent of
its neighbours' (a line keeps its place in its frame, distinct lines keep distinct names), so
any two layouts of as many frames conflict alike in expectation, and ``placement_seed``
draws one layout of many: a result is read as a mean over seeds, as a measurement is over
runs. Its limit is the other way round: a 2 MiB page's frames take independent colours too
(the model sees lines, not pages), where a contiguous 2 MiB page covers its block's colours
evenly -- use it where pages are 4 KiB.

Latencies are load-to-use cycles of a reference *served* by that level (not increments over
the level above). The block itself only says which level served each reference; the cost
model prices it with :meth:`CacheParams.latencies` and the platform's ``memory.latency``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

LEVEL_NAMES: tuple[str, str, str] = ("l1", "l2", "llc")
"""Cache levels, innermost first; their index is the level number a lookup returns."""

SERVED_NAMES: tuple[str, str, str, str] = (*LEVEL_NAMES, "memory")
"""What can serve a reference: ``SERVED_NAMES[level]`` (level 3 is memory)."""

MEMORY = 3
"""Level number of a reference that missed every cache."""

INCLUSIONS: tuple[str, ...] = ("nine", "inclusive")
"""``nine``: non-inclusive non-exclusive; ``inclusive``: the LLC holds every line of L1 and L2."""

PLACEMENTS: tuple[str, ...] = ("ordered", "scattered", "uncoloured")
"""Where the frames the models hand out fall in the caches' sets: ``ordered``, as numbered
(the models' frame allocators count up, so consecutive pages take consecutive cache colours:
a perfect page colouring); ``scattered``, each 4 KiB frame at a colour drawn from its 2 MiB
block by a keyed permutation; ``uncoloured``, each 4 KiB frame at a colour of its own, drawn
by a keyed hash (:data:`PLACEMENT_SEED_MAX`; see the module docstring)."""

PLACEMENT_SEED_MAX = (1 << 31) - 1
"""Largest ``cache.placement_seed``: the key of the scattered placement's permutations and of
the uncoloured placement's hash."""

LINE_RANGE: tuple[int, int] = (8, 4096)
"""Line sizes allowed: from one page-table entry to one 4 KiB page (a power of two)."""

MAX_SIZE = 1 << 30
"""Largest level (bytes): its state is two int64 words per line, 256 MiB at 64 B lines."""


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def keyed(message: str, stem: str) -> str:
    """A level's error with its fields named by their dotted keys.

    >>> keyed("ways: expected 1 .. 512 (lines of the level), got 0", "cache.l1.")
    'cache.l1.ways: expected 1 .. 512 (lines of the level), got 0'
    """
    return re.sub(r"\b(size|ways|latency)\b(?=:)", lambda m: stem + m.group(1), message)


@dataclass(frozen=True)
class CacheLevelParams:
    """One cache level: capacity in bytes, associativity, load-to-use latency in cycles.

    ``size == 0`` makes the level absent (``ways`` and ``latency`` are then normalised to 0,
    so equal hierarchies hash equal). The set count needs the line size, so the geometry is
    checked by :class:`CacheParams`.

    >>> CacheLevelParams(32 << 10, 8, 4)
    CacheLevelParams(size=32768, ways=8, latency=4.0)
    >>> CacheLevelParams(0, 8, 4) == CacheLevelParams(0, 0)
    True
    >>> CacheLevelParams(32 << 10, 0, 4)
    Traceback (most recent call last):
    ...
    ValueError: ways: expected an integer >= 1, got 0
    """

    size: int
    ways: int
    latency: float = 0.0

    def __post_init__(self) -> None:
        if not _is_int(self.size) or not 0 <= self.size <= MAX_SIZE:
            raise ValueError(f"size: expected an integer number of bytes from 0 to "
                             f"{MAX_SIZE} (1 GiB), got {self.size!r}")
        if self.size == 0:
            object.__setattr__(self, "ways", 0)
            object.__setattr__(self, "latency", 0.0)
            return
        if not _is_int(self.ways) or self.ways < 1:
            raise ValueError(f"ways: expected an integer >= 1, got {self.ways!r}")
        lat = self.latency
        if isinstance(lat, bool) or not isinstance(lat, int | float) or not (
                math.isfinite(lat) and lat >= 0):
            raise ValueError(f"latency: expected a finite number of cycles >= 0, got {lat!r}")
        object.__setattr__(self, "latency", float(lat))

    @property
    def enabled(self) -> bool:
        """True when the level holds lines."""
        return self.size > 0

    def lines(self, line: int) -> int:
        """Lines the level holds at line size ``line``."""
        return self.size // line

    def sets(self, line: int) -> int:
        """Sets at line size ``line`` (0 for an absent level).

        >>> CacheLevelParams(32 << 10, 8, 4).sets(64)
        64
        """
        return self.size // (line * self.ways) if self.enabled else 0


ABSENT = CacheLevelParams(0, 0)
"""A level that is not there."""


@dataclass(frozen=True)
class CacheParams:
    """The hierarchy: three levels, the line size shared by all, the inclusion policy.

    >>> p = CacheParams()
    >>> [(lv.size >> 10, lv.ways, p.sets[i], lv.latency) for i, lv in enumerate(p.levels)]
    [(32, 8, 64, 4.0), (256, 8, 512, 10.0), (8192, 16, 8192, 40.0)]
    >>> CacheParams(l2=CacheLevelParams(96 << 10, 8, 10))
    Traceback (most recent call last):
    ...
    ValueError: cache.l2.size: expected ways x line x a power-of-two number of sets, got 98304 (192 sets of 8 x 64 B)
    """  # noqa: E501

    l1: CacheLevelParams = field(default_factory=lambda: CacheLevelParams(32 << 10, 8, 4))
    l2: CacheLevelParams = field(default_factory=lambda: CacheLevelParams(256 << 10, 8, 10))
    llc: CacheLevelParams = field(default_factory=lambda: CacheLevelParams(8 << 20, 16, 40))
    line: int = 64
    inclusion: str = "nine"
    placement: str = "ordered"
    placement_seed: int = 0

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise ValueError(f"cache.placement: expected one of {PLACEMENTS}, "
                             f"got {self.placement!r}")
        if not _is_int(self.placement_seed) or not 0 <= self.placement_seed <= PLACEMENT_SEED_MAX:
            raise ValueError(f"cache.placement_seed: expected 0 .. {PLACEMENT_SEED_MAX}, "
                             f"got {self.placement_seed!r}")
        lo, hi = LINE_RANGE
        if not _is_int(self.line) or not lo <= self.line <= hi or not _is_pow2(self.line):
            raise ValueError(f"cache.line: expected a power of two from {lo} to {hi} bytes, "
                             f"got {self.line!r}")
        if self.inclusion not in INCLUSIONS:
            raise ValueError(f"cache.inclusion: expected one of {INCLUSIONS}, "
                             f"got {self.inclusion!r}")
        for name, lv in zip(LEVEL_NAMES, self.levels, strict=True):
            key = f"cache.{name}"
            if not isinstance(lv, CacheLevelParams):
                raise ValueError(f"{key}: expected a CacheLevelParams, got {lv!r}")
            if not lv.enabled:
                continue
            if lv.size % self.line:
                raise ValueError(f"{key}.size: expected a multiple of the line "
                                 f"({self.line} B), got {lv.size}")
            if lv.ways > lv.lines(self.line):
                raise ValueError(f"{key}.ways: expected 1 .. {lv.lines(self.line)} (lines of "
                                 f"the level), got {lv.ways}")
            sets, rest = divmod(lv.size, lv.ways * self.line)
            if rest or not _is_pow2(sets):
                raise ValueError(
                    f"{key}.size: expected ways x line x a power-of-two number of sets, "
                    f"got {lv.size} ({lv.size / (lv.ways * self.line):g} sets of "
                    f"{lv.ways} x {self.line} B)")
        if self.inclusion == "inclusive" and not self.llc.enabled:
            raise ValueError("cache.inclusion: 'inclusive' needs an LLC (cache.llc.size > 0)")

    @property
    def levels(self) -> tuple[CacheLevelParams, CacheLevelParams, CacheLevelParams]:
        """``(l1, l2, llc)``, indexed by level number."""
        return (self.l1, self.l2, self.llc)

    @property
    def sets(self) -> tuple[int, int, int]:
        """Sets per level (0 for an absent level)."""
        a, b, c = (lv.sets(self.line) for lv in self.levels)
        return (a, b, c)

    @property
    def line_bits(self) -> int:
        """log2 of the line size: a byte address's line number is ``addr >> line_bits``."""
        return self.line.bit_length() - 1

    @property
    def slots(self) -> int:
        """Lines of all levels together (the size of the model's state arrays)."""
        return sum(lv.lines(self.line) for lv in self.levels if lv.enabled)

    def latencies(self, memory: float) -> tuple[float, float, float, float]:
        """Cycles of a reference served by L1, L2, LLC, memory (``memory``: the platform's
        ``memory.latency``), indexed by the level number the model returns.

        >>> CacheParams().latencies(200.0)
        (4.0, 10.0, 40.0, 200.0)
        """
        return (self.l1.latency, self.l2.latency, self.llc.latency, float(memory))

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any], base: CacheParams | None = None) -> CacheParams:
        """Build from flat dotted keys; keys outside ``cache.`` are ignored.

        ``cache.<level>.{size,ways,latency}`` for level ``l1``, ``l2``, ``llc`` (size in bytes,
        latency in cycles), ``cache.line`` (bytes), ``cache.inclusion``, ``cache.placement`` and
        ``cache.placement_seed``. Unset keys keep
        ``base`` (default: ``CacheParams()``); a level given a new size keeps its ways and latency
        unless it was absent (then both are required).

        >>> p = CacheParams.from_flat({"cache.llc.size": 0, "cache.l2.latency": 12, "x": 1})
        >>> p.llc.enabled, p.l2.latency
        (False, 12.0)
        >>> CacheParams.from_flat({"cache.l1.ways": 3})
        Traceback (most recent call last):
        ...
        ValueError: cache.l1.size: expected ways x line x a power-of-two number of sets, got 32768 (170.667 sets of 3 x 64 B)
        >>> CacheParams.from_flat({"cache.l3.size": 1})
        Traceback (most recent call last):
        ...
        ValueError: cache.l3.size: unknown cache key
        """  # noqa: E501
        p = base if base is not None else cls()
        per_level: dict[str, dict[str, Any]] = {name: {} for name in LEVEL_NAMES}
        top: dict[str, Any] = {}
        for key, value in flat.items():
            if not key.startswith("cache."):
                continue
            parts = key.split(".")
            if len(parts) == 2 and parts[1] in ("line", "inclusion", "placement",
                                                "placement_seed"):
                top[parts[1]] = value
            elif (len(parts) == 3 and parts[1] in LEVEL_NAMES
                  and parts[2] in ("size", "ways", "latency")):
                per_level[parts[1]][parts[2]] = value
            else:
                raise ValueError(f"{key}: unknown cache key")
        new: dict[str, CacheLevelParams] = {}
        for name, lv in zip(LEVEL_NAMES, p.levels, strict=True):
            fields = per_level[name]
            if not fields:
                continue
            if not lv.enabled and fields.get("size", 0):
                # An absent level has no ways or latency to keep: a silent 0 would price
                # its hits at nothing.
                for need in ("ways", "latency"):
                    if need not in fields:
                        raise ValueError(f"cache.{name}.{need}: expected with "
                                         f"cache.{name}.size (the level was absent)")
            try:
                new[name] = replace(lv, **fields)
            except ValueError as exc:
                raise ValueError(keyed(str(exc), f"cache.{name}.")) from None
        return replace(p, **new, **top)


__all__ = [
    "ABSENT",
    "INCLUSIONS",
    "LEVEL_NAMES",
    "MEMORY",
    "PLACEMENTS",
    "PLACEMENT_SEED_MAX",
    "SERVED_NAMES",
    "CacheLevelParams",
    "CacheParams",
]
