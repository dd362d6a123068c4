"""Parameters of the tagged TLB: frozen dataclasses, validated on construction.

A TLB here is up to three set-associative arrays, one per page size (4 KiB, 2 MiB, 1 GiB), as
real cores build them: each array indexes with the low bits of *its own* virtual page number, so
no array needs a size field and a lookup probes all three in parallel. An array with 0 entries is
absent.

Defaults and where they come from (see /work/shared/ANCHORS.md, MMU rows):

- 4 KiB array: 64 entries, 4 ways (16 sets) -- ChampSim's default DTLB ("DTLB 64 (16x4)").
- 2 MiB array: 32 entries, 4 ways; 1 GiB array: 4 entries, fully associative.
  *Assumption* (not in ANCHORS): sizes of the kind recent Intel cores publish for their L1 DTLB.
- ``vpid_bits`` 16 and ``pcid_bits`` 12 -- Intel SDM tag widths (ANCHORS "16-bit VPID, 12-bit
  PCID"). A width of 0 turns that tag off: entries then survive no switch of that kind and the
  owner must flush (a VPID-less TLB is flushed on every VM entry/exit by its hypervisor).
- ``va_bits`` 48 (4-level paging) or 57 (5-level paging); ``pa_bits`` 52, the architectural
  maximum MAXPHYADDR of x86-64 (*assumption*: a sizing choice, real parts implement fewer bits).
- ``policy`` ``"lru"``. *Assumption*: ChampSim's default TLB replacement, not an ANCHORS row.
- ``lfsr_seed`` 0xACE1: seed of the 16-bit LFSR behind the ``"random"`` policy (see
  ``hwmodels.tlb.model`` for the polynomial); any non-zero 16-bit value is valid.

The engine wires the TLB from flat dotted keys; :meth:`TLBParams.from_flat` maps them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

POLICIES: tuple[str, ...] = ("lru", "plru", "random")
"""Replacement policies: true LRU, tree pseudo-LRU, seeded-LFSR random."""

PAGE_SHIFTS: tuple[int, int, int] = (12, 21, 30)
"""log2 of the page size of array 0, 1, 2 (4 KiB, 2 MiB, 1 GiB)."""

PAGE_NAMES: tuple[str, str, str] = ("4k", "2m", "1g")

VA_BITS_ALLOWED: tuple[int, ...] = (48, 57)
PA_BITS_RANGE: tuple[int, int] = (32, 52)
VPID_BITS_MAX = 16
PCID_BITS_MAX = 12


def keyed(message: str, stem: str) -> str:
    """An array's error with its fields named by their dotted keys.

    >>> keyed("entries: expected a multiple of ways (5), got 64", "tlb.l1.")
    'tlb.l1.entries: expected a multiple of tlb.l1.ways (5), got 64'
    """
    return re.sub(r"\b(entries|ways|policy)\b", lambda m: stem + m.group(1), message)


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


@dataclass(frozen=True)
class TLBArrayParams:
    """One set-associative array (one page size).

    ``entries == 0`` disables the array (``ways`` is then normalised to 0). ``ways == entries``
    makes it fully associative.

    >>> TLBArrayParams(entries=64, ways=4).sets
    16
    >>> TLBArrayParams(entries=64, ways=3)
    Traceback (most recent call last):
    ...
    ValueError: entries: expected a multiple of ways (3), got 64
    """

    entries: int
    ways: int
    policy: str = "lru"

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy: expected one of {POLICIES}, got {self.policy!r}")
        if self.entries < 0:
            raise ValueError(f"entries: expected >= 0, got {self.entries}")
        if self.entries == 0:
            # A disabled array has one canonical form, so equal TLBs hash equal.
            object.__setattr__(self, "ways", 0)
            return
        if not 1 <= self.ways <= self.entries:
            raise ValueError(f"ways: expected 1 .. entries ({self.entries}), got {self.ways}")
        if self.entries % self.ways:
            raise ValueError(
                f"entries: expected a multiple of ways ({self.ways}), got {self.entries}"
            )
        if not _is_pow2(self.entries // self.ways):
            raise ValueError(
                f"entries/ways: expected a power-of-two number of sets, "
                f"got {self.entries // self.ways}"
            )
        if self.policy == "plru" and not _is_pow2(self.ways):
            raise ValueError(f"ways: plru needs a power of two, got {self.ways}")

    @property
    def enabled(self) -> bool:
        """True when the array has entries."""
        return self.entries > 0

    @property
    def sets(self) -> int:
        """Number of sets (0 for a disabled array)."""
        return self.entries // self.ways if self.entries else 0

    @property
    def set_bits(self) -> int:
        """Index bits taken from the low end of the virtual page number."""
        return max(self.sets - 1, 0).bit_length()


DISABLED = TLBArrayParams(entries=0, ways=0)


@dataclass(frozen=True)
class TLBParams:
    """A whole TLB: one array per page size plus tag and address widths.

    >>> p = TLBParams()
    >>> (p.l4k.entries, p.l4k.ways, p.vpid_bits, p.pcid_bits, p.va_bits)
    (64, 4, 16, 12, 48)
    >>> TLBParams(va_bits=40)
    Traceback (most recent call last):
    ...
    ValueError: va_bits: expected one of (48, 57), got 40
    """

    l4k: TLBArrayParams = field(default_factory=lambda: TLBArrayParams(64, 4, "lru"))
    l2m: TLBArrayParams = field(default_factory=lambda: TLBArrayParams(32, 4, "lru"))
    l1g: TLBArrayParams = field(default_factory=lambda: TLBArrayParams(4, 4, "lru"))
    va_bits: int = 48
    pa_bits: int = 52
    vpid_bits: int = VPID_BITS_MAX
    pcid_bits: int = PCID_BITS_MAX
    lfsr_seed: int = 0xACE1

    def __post_init__(self) -> None:
        for name in ("l4k", "l2m", "l1g"):
            if not isinstance(getattr(self, name), TLBArrayParams):
                raise ValueError(f"{name}: expected a TLBArrayParams, got {getattr(self, name)!r}")
        if not any(a.enabled for a in self.arrays):
            raise ValueError("l4k/l2m/l1g: expected at least one array with entries")
        if self.va_bits not in VA_BITS_ALLOWED:
            raise ValueError(f"va_bits: expected one of {VA_BITS_ALLOWED}, got {self.va_bits}")
        lo, hi = PA_BITS_RANGE
        if not lo <= self.pa_bits <= hi:
            raise ValueError(f"pa_bits: expected {lo} .. {hi}, got {self.pa_bits}")
        if not 0 <= self.vpid_bits <= VPID_BITS_MAX:
            raise ValueError(f"vpid_bits: expected 0 .. {VPID_BITS_MAX}, got {self.vpid_bits}")
        if not 0 <= self.pcid_bits <= PCID_BITS_MAX:
            raise ValueError(f"pcid_bits: expected 0 .. {PCID_BITS_MAX}, got {self.pcid_bits}")
        if not 1 <= self.lfsr_seed <= 0xFFFF:
            raise ValueError(f"lfsr_seed: expected 1 .. 0xFFFF, got {self.lfsr_seed:#x}")
        for name, arr, shift in zip(PAGE_NAMES, self.arrays, PAGE_SHIFTS, strict=True):
            if arr.enabled and shift + arr.set_bits >= self.va_bits:
                raise ValueError(
                    f"l{name}: expected fewer sets, {arr.sets} sets leave no tag bits "
                    f"in a {self.va_bits}-bit address"
                )

    @property
    def arrays(self) -> tuple[TLBArrayParams, TLBArrayParams, TLBArrayParams]:
        """The three arrays, indexed like ``PageSize`` (4 KiB, 2 MiB, 1 GiB)."""
        return (self.l4k, self.l2m, self.l1g)

    @property
    def entries(self) -> int:
        """Total entries over all arrays."""
        return sum(a.entries for a in self.arrays)

    @property
    def max_ways(self) -> int:
        """Widest associativity over the arrays (sizes the ``way`` event)."""
        return max(a.ways for a in self.arrays)

    @property
    def pfn_bits(self) -> int:
        """Width of a 4 KiB physical frame number."""
        return self.pa_bits - PAGE_SHIFTS[0]

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any], base: TLBParams | None = None) -> TLBParams:
        """Build from the toolkit's flat dotted keys; keys outside ``tlb.`` are ignored.

        ``tlb.l1.{entries,ways,policy}`` set the 4 KiB array, ``tlb.l1.2m.*`` and
        ``tlb.l1.1g.*`` the large-page arrays; ``tlb.vpid`` / ``tlb.pcid`` (bool) turn the VM
        and address-space tags on (16 / 12 bits) or off; ``tlb.va_bits``, ``tlb.pa_bits`` and
        ``tlb.lfsr_seed`` set those fields. Unset keys keep ``base`` (default: ``TLBParams()``).

        >>> p = TLBParams.from_flat({"tlb.l1.entries": 16, "tlb.l1.ways": 4,
        ...                          "tlb.l1.policy": "plru", "tlb.vpid": False, "seed": 3})
        >>> (p.l4k, p.vpid_bits, p.pcid_bits)
        (TLBArrayParams(entries=16, ways=4, policy='plru'), 0, 12)
        >>> TLBParams.from_flat({"tlb.l2.entries": 1536})
        Traceback (most recent call last):
        ...
        ValueError: tlb.l2.entries: unknown TLB key
        """
        p = base if base is not None else cls()
        arrays = {"": p.l4k, "2m.": p.l2m, "1g.": p.l1g}
        array_fields: dict[str, dict[str, Any]] = {k: {} for k in arrays}
        top: dict[str, Any] = {}
        for key, value in flat.items():
            if not key.startswith("tlb."):
                continue
            rest = key[len("tlb.") :]
            if rest in ("vpid", "pcid"):
                if not isinstance(value, bool):
                    raise ValueError(f"{key}: expected a bool (tagging on/off), got {value!r}")
                full = VPID_BITS_MAX if rest == "vpid" else PCID_BITS_MAX
                top[f"{rest}_bits"] = full if value else 0
            elif rest in ("va_bits", "pa_bits", "lfsr_seed"):
                top[rest] = value
            elif rest.startswith("l1."):
                sub = rest[len("l1.") :]
                prefix = sub[:3] if sub[:3] in ("2m.", "1g.") else ""
                name = sub[len(prefix) :]
                if name not in ("entries", "ways", "policy"):
                    raise ValueError(f"{key}: unknown TLB key")
                array_fields[prefix][name] = value
            else:
                raise ValueError(f"{key}: unknown TLB key")
        new = {}
        for attr, prefix in (("l4k", ""), ("l2m", "2m."), ("l1g", "1g.")):
            if array_fields[prefix]:
                try:
                    new[attr] = replace(arrays[prefix], **array_fields[prefix])
                except ValueError as exc:
                    raise ValueError(keyed(str(exc), f"tlb.l1.{prefix}")) from None
        return replace(p, **new, **top)
