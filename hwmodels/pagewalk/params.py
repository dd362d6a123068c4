"""Parameters of the page walker, its page-walk caches and its nested TLB.

Frozen dataclasses validated on construction, with one-line ``ValueError``s naming the dotted
key the engine uses (``pwc.entries``, ``ntlb.entries``, ``ntlb.ways``, ``guest.levels``,
``host.levels``). :meth:`WalkerParams.from_flat` builds them from those keys.

The page-walk cache and the nested TLB are also blocks of their own (``hwmodels.pagewalk.caches``
and ``cache_rtl``): :class:`PWCBlockParams` is *one dimension's* page-walk cache (every level of
it; the walker holds two, ``guest`` and ``nested``, which are never probed in the same cycle and
have different tags), :class:`NTLBBlockParams` the nested TLB. Both are projections of a
``WalkerParams`` (``of_walker``) and take the same dotted keys (``from_flat``).

Defaults and where they come from (see /work/shared/ANCHORS.md, MMU rows):

- ``guest.levels`` / ``host.levels`` 4: x86-64 4-level paging and 4-level EPT.
- Page-walk cache entries per level 32 / 8 / 4 / 2 for levels 2 / 3 / 4 / 5 -- ChampSim's
  default PSCs ("PSCs 2/4/8/32 entries (L5..L2)"), the same for both dimensions. Level ``L``'s
  cache holds what reading a level-``L`` entry yields: the base of a level ``L-1`` table, so
  level 1 (the leaf) has none, and a level above the table's height is unused.
- Nested TLB 16 entries, 4 ways. *Assumption* (not in ANCHORS): a small structure of the
  size Bhargava et al. evaluate; make it a swept parameter, not a fact.
- ``vm_bits`` 16 / ``asid_bits`` 12: Intel's VPID and PCID widths (ANCHORS "16-bit VPID,
  12-bit PCID"); ``pa_bits`` 52, the architectural maximum (tests use narrow widths).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

LEVELS_RANGE: tuple[int, int] = (2, 5)
"""Radix levels a table may have (x86-64 has 4 or 5; 2 and 3 keep tests and sweeps small)."""

PWC_LEVELS: tuple[int, ...] = (2, 3, 4, 5)
"""Levels that have a page-walk cache (a level-``L`` entry points to a level ``L-1`` table)."""

PA_BITS_RANGE: tuple[int, int] = (32, 52)
"""32 at least: a 1 GiB page offset must fit a physical address."""
VM_BITS_MAX = 16
ASID_BITS_MAX = 12


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _per_level(key: str, value: Any) -> tuple[int, int, int, int]:
    """One count for every level, or four counts for levels 2, 3, 4, 5 (in that order)."""
    if isinstance(value, bool):
        raise ValueError(f"{key}: expected an integer or 4 integers (levels 2..5), got {value!r}")
    if isinstance(value, int):
        value = (value,) * len(PWC_LEVELS)
    try:
        counts = tuple(value)
    except TypeError:
        raise ValueError(
            f"{key}: expected an integer or 4 integers (levels 2..5), got {value!r}"
        ) from None
    if len(counts) != len(PWC_LEVELS) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in counts
    ):
        raise ValueError(f"{key}: expected an integer or 4 integers (levels 2..5), got {value!r}")
    if any(c < 0 for c in counts):
        raise ValueError(f"{key}: expected counts >= 0, got {counts}")
    return counts  # type: ignore[return-value]


@dataclass(frozen=True)
class PWCParams:
    """Entries of each level's page-walk cache, for levels 2, 3, 4, 5; 0 disables a level.

    Each level is fully associative with LRU replacement (realistic for PSCs, which are small).

    >>> PWCParams(4).entries
    (4, 4, 4, 4)
    >>> PWCParams((32, 8, 4, 2)).at(2), PWCParams((32, 8, 4, 2)).enabled
    (32, True)
    >>> PWCParams((1, 2, 3))
    Traceback (most recent call last):
    ...
    ValueError: pwc.entries: expected an integer or 4 integers (levels 2..5), got (1, 2, 3)
    """

    entries: tuple[int, int, int, int] | int = (32, 8, 4, 2)
    key: str = field(default="pwc.entries", compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", _per_level(self.key, self.entries))

    def at(self, level: int) -> int:
        """Entries of the level-``level`` cache (0 for level 1 or no cache)."""
        return self.entries[level - 2] if level in PWC_LEVELS else 0  # type: ignore[index]

    @property
    def enabled(self) -> bool:
        """True when any level has entries."""
        return any(self.entries)  # type: ignore[arg-type]


@dataclass(frozen=True)
class NTLBParams:
    """The nested TLB: ``entries`` in ``entries // ways`` sets, LRU; 0 entries disables it.

    >>> NTLBParams(16, 4).sets, NTLBParams(0, 4).ways
    (4, 0)
    >>> NTLBParams(12, 8)
    Traceback (most recent call last):
    ...
    ValueError: ntlb.entries: expected a multiple of ntlb.ways (8), got 12
    """

    entries: int = 16
    ways: int = 4

    def __post_init__(self) -> None:
        for name in ("entries", "ways"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"ntlb.{name}: expected an integer >= 0, got {v!r}")
        if self.entries == 0:
            object.__setattr__(self, "ways", 0)  # one canonical form of "disabled"
            return
        if not 1 <= self.ways <= self.entries:
            raise ValueError(f"ntlb.ways: expected 1 .. ntlb.entries ({self.entries}), "
                             f"got {self.ways}")
        if self.entries % self.ways:
            raise ValueError(f"ntlb.entries: expected a multiple of ntlb.ways ({self.ways}), "
                             f"got {self.entries}")
        if not _is_pow2(self.entries // self.ways):
            raise ValueError(f"ntlb.entries: expected a power-of-two number of sets "
                             f"(entries / ways), got {self.entries // self.ways}")

    @property
    def enabled(self) -> bool:
        """True when the nested TLB has entries."""
        return self.entries > 0

    @property
    def sets(self) -> int:
        """Number of sets (0 when disabled)."""
        return self.entries // self.ways if self.entries else 0

    @property
    def set_bits(self) -> int:
        """Index bits taken from the low end of the guest-physical page number."""
        return max(self.sets - 1, 0).bit_length()


@dataclass(frozen=True)
class WalkerParams:
    """The whole walker: table heights, caches, address and tag widths.

    ``pwc_guest`` caches the guest dimension (and native walks), ``pwc_nested`` the nested
    dimension of a 2D walk.

    >>> p = WalkerParams()
    >>> p.guest_levels, p.host_levels, p.va_bits, p.gpa_reach_bits
    (4, 4, 48, 48)
    >>> WalkerParams(guest_levels=6)
    Traceback (most recent call last):
    ...
    ValueError: guest.levels: expected 2 .. 5, got 6
    """

    guest_levels: int = 4
    host_levels: int = 4
    pwc_guest: PWCParams = field(default_factory=PWCParams)
    pwc_nested: PWCParams = field(default_factory=PWCParams)
    ntlb: NTLBParams = field(default_factory=NTLBParams)
    pa_bits: int = 52
    vm_bits: int = VM_BITS_MAX
    asid_bits: int = ASID_BITS_MAX
    agile: bool = False
    """Agile paging's walker change (Gandhi et al., ISCA 2016): ``AGILE`` walks, which start
    in a shadow table and switch to two dimensions at an entry with the switch bit; the
    guest page-walk cache keeps one more bit per entry (whether the base it holds is
    guest-physical)."""

    def __post_init__(self) -> None:
        if not isinstance(self.agile, bool):
            raise ValueError(f"walker.agile: expected true or false, got {self.agile!r}")
        lo, hi = LEVELS_RANGE
        for key, v in (("guest.levels", self.guest_levels), ("host.levels", self.host_levels)):
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ValueError(f"{key}: expected {lo} .. {hi}, got {v!r}")
        for key, v in (("pwc.guest", self.pwc_guest), ("pwc.nested", self.pwc_nested),
                       ("ntlb", self.ntlb)):
            want = NTLBParams if key == "ntlb" else PWCParams
            if not isinstance(v, want):
                raise ValueError(f"{key}: expected a {want.__name__}, got {v!r}")
        lo, hi = PA_BITS_RANGE
        if not lo <= self.pa_bits <= hi:
            raise ValueError(f"pa_bits: expected {lo} .. {hi}, got {self.pa_bits}")
        if not 1 <= self.vm_bits <= VM_BITS_MAX:
            raise ValueError(f"vm_bits: expected 1 .. {VM_BITS_MAX}, got {self.vm_bits}")
        if not 1 <= self.asid_bits <= ASID_BITS_MAX:
            raise ValueError(f"asid_bits: expected 1 .. {ASID_BITS_MAX}, got {self.asid_bits}")

    @property
    def va_bits(self) -> int:
        """Virtual-address bits a guest (or native) walk translates."""
        return 12 + 9 * self.guest_levels

    @property
    def gpa_reach_bits(self) -> int:
        """Guest-physical bits a host walk translates (higher gPA bits are ignored)."""
        return 12 + 9 * self.host_levels

    @property
    def max_refs(self) -> int:
        """Memory references of the longest walk: ``(n_g + 1)(n_h + 1) - 1``."""
        return (self.guest_levels + 1) * (self.host_levels + 1) - 1

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any], base: WalkerParams | None = None) -> WalkerParams:
        """Build from dotted keys; keys outside ``pwc.``/``ntlb.``/``guest.``/``host.``/``walker.``
        are ignored.

        ``pwc.entries`` sets both dimensions; ``pwc.guest.entries`` / ``pwc.nested.entries``
        override one. Each takes one integer (every level) or four (levels 2, 3, 4, 5).

        >>> p = WalkerParams.from_flat({"pwc.entries": 0, "pwc.nested.entries": [4, 2, 1, 1],
        ...                             "ntlb.entries": 8, "ntlb.ways": 2, "host.levels": 5})
        >>> p.pwc_guest.entries, p.pwc_nested.entries, p.ntlb.sets, p.host_levels
        ((0, 0, 0, 0), (4, 2, 1, 1), 4, 5)
        >>> WalkerParams.from_flat({"ntlb.entries": 12, "ntlb.ways": 8})
        Traceback (most recent call last):
        ...
        ValueError: ntlb.entries: expected a multiple of ntlb.ways (8), got 12
        """
        p = base if base is not None else cls()
        top: dict[str, Any] = {}
        ntlb: dict[str, Any] = {}
        for key, value in flat.items():
            head = key.split(".", 1)[0]
            if head not in ("pwc", "ntlb", "guest", "host", "walker"):
                continue
            if key == "walker.agile":
                top["agile"] = value
            elif key == "pwc.entries":
                top.setdefault("pwc_guest", PWCParams(value, "pwc.entries"))
                top.setdefault("pwc_nested", PWCParams(value, "pwc.entries"))
            elif key in ("pwc.guest.entries", "pwc.nested.entries"):
                top[f"pwc_{key.split('.')[1]}"] = PWCParams(value, key)
            elif key in ("ntlb.entries", "ntlb.ways"):
                ntlb[key[len("ntlb."):]] = value
            elif key in ("guest.levels", "host.levels"):
                top[f"{head}_levels"] = value
            elif head in ("pwc", "ntlb", "walker"):
                raise ValueError(f"{key}: unknown page-walk key")
        # An override wins over pwc.entries whatever the order of the keys.
        for dim in ("guest", "nested"):
            k = f"pwc.{dim}.entries"
            if k in flat:
                top[f"pwc_{dim}"] = PWCParams(flat[k], k)
        if ntlb:
            top["ntlb"] = NTLBParams(**{**{"entries": p.ntlb.entries,
                                           "ways": p.ntlb.ways or 1}, **ntlb})
        return replace(p, **top)


ADDR_BITS_RANGE: tuple[int, int] = (22, 12 + 9 * LEVELS_RANGE[1])
"""Address bits a page-walk cache looks at: past the level-2 index, at most a 5-level VA."""
DIMS: tuple[str, ...] = ("guest", "nested")


def _check_widths(pa_bits: int, vm_bits: int) -> None:
    lo, hi = PA_BITS_RANGE
    if not lo <= pa_bits <= hi:
        raise ValueError(f"pa_bits: expected {lo} .. {hi}, got {pa_bits}")
    if not 1 <= vm_bits <= VM_BITS_MAX:
        raise ValueError(f"vm_bits: expected 1 .. {VM_BITS_MAX}, got {vm_bits}")


@dataclass(frozen=True)
class PWCBlockParams:
    """One dimension's page-walk cache as a block: levels ``2 .. levels``, all probed at once.

    ``dim="guest"`` entries are tagged (VM, ASID) and cache the guest dimension of 2D walks and
    native walks; ``dim="nested"`` entries are tagged by VM only (``asid_bits`` becomes 0).
    ``addr_bits`` is the width of the address the cache is keyed by: the VA for the guest
    dimension, the guest-physical bits a host walk looks at for the nested one. Entries store a
    host-physical next-table frame (``pa_bits - 12`` bits) and 3 permission bits.

    >>> PWCBlockParams().addr_bits, PWCBlockParams(dim="nested").asid_bits
    (48, 0)
    >>> PWCBlockParams(dim="host")
    Traceback (most recent call last):
    ...
    ValueError: pwc dim: expected one of ('guest', 'nested'), got 'host'
    """

    pwc: PWCParams = field(default_factory=PWCParams)
    dim: str = "guest"
    levels: int = 4
    addr_bits: int = 48
    pa_bits: int = 52
    vm_bits: int = VM_BITS_MAX
    asid_bits: int = ASID_BITS_MAX

    def __post_init__(self) -> None:
        if self.dim not in DIMS:
            raise ValueError(f"pwc dim: expected one of {DIMS}, got {self.dim!r}")
        if not isinstance(self.pwc, PWCParams):
            raise ValueError(f"pwc: expected a PWCParams, got {self.pwc!r}")
        key = "guest.levels" if self.dim == "guest" else "host.levels"
        lo, hi = LEVELS_RANGE
        if not lo <= self.levels <= hi:
            raise ValueError(f"{key}: expected {lo} .. {hi}, got {self.levels}")
        lo, hi = ADDR_BITS_RANGE
        if not lo <= self.addr_bits <= hi:
            raise ValueError(f"addr_bits: expected {lo} .. {hi}, got {self.addr_bits}")
        _check_widths(self.pa_bits, self.vm_bits)
        if self.dim == "nested":
            object.__setattr__(self, "asid_bits", 0)  # nested entries carry no address space
        elif not 1 <= self.asid_bits <= ASID_BITS_MAX:
            raise ValueError(f"asid_bits: expected 1 .. {ASID_BITS_MAX}, got {self.asid_bits}")

    @property
    def entries(self) -> tuple[int, ...]:
        """Entries of the levels this block has (2 .. ``levels``); 0 where a level is off."""
        return tuple(self.pwc.at(L) for L in range(2, self.levels + 1))

    @property
    def enabled(self) -> bool:
        """True when any of the block's levels has entries."""
        return any(self.entries)

    @classmethod
    def of_walker(cls, p: WalkerParams, dim: str = "guest") -> PWCBlockParams:
        """The ``dim`` page-walk cache of walker ``p``.

        >>> b = PWCBlockParams.of_walker(WalkerParams(host_levels=5, pa_bits=40), "nested")
        >>> b.levels, b.addr_bits, b.entries
        (5, 40, (32, 8, 4, 2))
        """
        if dim not in DIMS:
            raise ValueError(f"pwc dim: expected one of {DIMS}, got {dim!r}")
        if dim == "guest":
            return cls(p.pwc_guest, dim, p.guest_levels, p.va_bits, p.pa_bits, p.vm_bits,
                       p.asid_bits)
        return cls(p.pwc_nested, dim, p.host_levels, min(p.pa_bits, p.gpa_reach_bits),
                   p.pa_bits, p.vm_bits, 0)

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any], dim: str = "guest",
                  base: WalkerParams | None = None) -> PWCBlockParams:
        """The ``dim`` cache from the walker's dotted keys (see ``WalkerParams.from_flat``).

        ``pwc.entries`` sizes both dimensions, ``pwc.guest.entries`` / ``pwc.nested.entries``
        override one; ``guest.levels`` / ``host.levels`` set the dimension's height.

        >>> b = PWCBlockParams.from_flat({"pwc.entries": 4, "pwc.nested.entries": [2, 1, 1, 0]},
        ...                              "nested")
        >>> b.dim, b.entries
        ('nested', (2, 1, 1))
        """
        return cls.of_walker(WalkerParams.from_flat(flat, base), dim)


@dataclass(frozen=True)
class NTLBBlockParams:
    """The nested TLB as a block: (VM, gPA page) -> host frame, host size class, permissions.

    ``gpa_bits`` is the width of the guest-physical address a host walk looks at, so the page
    port has ``gpa_bits - 12`` bits (its low ``ntlb.set_bits`` select the set).

    >>> NTLBBlockParams().ntlb.sets, NTLBBlockParams().gpa_bits
    (4, 48)
    """

    ntlb: NTLBParams = field(default_factory=NTLBParams)
    gpa_bits: int = 48
    pa_bits: int = 52
    vm_bits: int = VM_BITS_MAX

    def __post_init__(self) -> None:
        if not isinstance(self.ntlb, NTLBParams):
            raise ValueError(f"ntlb: expected an NTLBParams, got {self.ntlb!r}")
        lo, hi = ADDR_BITS_RANGE
        if not lo <= self.gpa_bits <= hi:
            raise ValueError(f"gpa_bits: expected {lo} .. {hi}, got {self.gpa_bits}")
        if self.ntlb.set_bits > self.gpa_bits - 12:
            raise ValueError(f"ntlb.entries: {self.ntlb.sets} sets need more than the "
                             f"{self.gpa_bits - 12} bits of a gPA page number")
        _check_widths(self.pa_bits, self.vm_bits)

    @property
    def page_bits(self) -> int:
        """Width of the guest-physical page number."""
        return self.gpa_bits - 12

    @classmethod
    def of_walker(cls, p: WalkerParams) -> NTLBBlockParams:
        """The nested TLB of walker ``p``.

        >>> NTLBBlockParams.of_walker(WalkerParams(host_levels=2, pa_bits=36)).gpa_bits
        30
        """
        return cls(p.ntlb, min(p.pa_bits, p.gpa_reach_bits), p.pa_bits, p.vm_bits)

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any], base: WalkerParams | None = None
                  ) -> NTLBBlockParams:
        """From the walker's dotted keys ``ntlb.entries`` / ``ntlb.ways`` (and ``host.levels``).

        >>> b = NTLBBlockParams.from_flat({"ntlb.entries": 8, "ntlb.ways": 2})
        >>> b.ntlb.sets, b.ntlb.ways
        (4, 2)
        >>> NTLBBlockParams.from_flat({"ntlb.entries": 12, "ntlb.ways": 8})
        Traceback (most recent call last):
        ...
        ValueError: ntlb.entries: expected a multiple of ntlb.ways (8), got 12
        """
        return cls.of_walker(WalkerParams.from_flat(flat, base))
