"""Parameters of the virtualizable NIC: one frozen dataclass, validated on construction.

All NIC blocks (classifier, rings, DMA + IOTLB, interrupts, the whole NIC) take the same
``NICParams``, so the engine can hand every block the same dotted keys.

Sizes and where they come from (/work/shared/ANCHORS.md, NIC rows, unless marked *assumption*):

- ``queues`` 128, ``filters`` 128, ``vlans`` 4096, up to 64 VFs -- Intel 82599 (``ixgbe``).
- ``ring_size`` 256 descriptors -- Linux ``e1000`` ring default.
- ``itr_us`` 10 -- ``e1000e`` interrupt-throttle floor (minimum interval between interrupts).
- ``irq_threshold`` 0: none, the throttle interval is a hard cap on a vector's interrupt rate,
  as the ITR of ``e1000e`` and ``ixgbe``. A value above 0 adds an early interrupt once that
  many completions wait (a packet-count threshold of the kind other drivers expose as
  ``rx-frames``; not an ANCHORS row).
- ``vfs`` 0: no SR-IOV, the physical function owns every queue (VMDq-style).
- ``link_gbps`` 10 (the 10 GbE rows).
- ``clock_mhz`` 250. *Assumption*: the NIC datapath clock; every time in the RTL and the
  behavioural model is counted in cycles of this clock (``itr_cycles = itr_us * clock_mhz``).
  The PyRTL model does not reach it: it handles a whole operation in one cycle (classify, pick
  the ring's head, read the descriptor, IOTLB lookup and fill, permission check, interrupt
  arbitration), and PyRTL's timing estimate of that path for the default (82599-sized) NIC is
  about 120 MHz at 130 nm (``hw.nic.fmax_mhz``; each sub-block alone, 260-320 MHz). A NIC
  clocked at 250 MHz would pipeline these stages over several cycles (outputs a few cycles
  later; with its hazards resolved, the same events). 250 MHz stays the default as the clock
  of such a pipelined NIC (the sub-blocks' estimates suggest one stage each would reach it);
  ``hw.nic.fmax_mhz`` reports how far this unpipelined model is from it.
- IOTLB: ``iotlb_entries`` 64, ``iotlb_ways`` 4, ``iotlb_policy`` ``"lru"``. *Assumption*: a
  small device-side TLB; not an ANCHORS row.
- ``iommu_levels`` 4: references of one IOMMU page walk (VT-d 4-level second-level tables for a
  48-bit address width). *Assumption* that the walker has no paging-structure cache.
- ``iova_bits`` 24 (16 MiB of I/O virtual space per function) and ``pa_bits`` 40. *Assumption*:
  sizing choices; an IOVA at or above ``2**iova_bits`` cannot be written into a descriptor.

Functions and queues. ``functions = vfs + 1`` (function 0 is the physical function, PF).
Queues are split into ``pools`` equal, aligned pools, ``pools`` the next power of two at or
above ``functions``; function ``f`` owns queues ``[f * qpf, (f + 1) * qpf)`` with
``qpf = queues // pools``. (The 82599 splits its 128 queues the same way: 64 pools of 2 or
32 pools of 4.) Each function has its own IOMMU domain, numbered like the function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

POLICIES: tuple[str, ...] = ("lru", "plru", "random")
MAX_VLANS = 4096
MAX_LEVELS = 5


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def clog2(n: int) -> int:
    """Bits to index ``n`` items (0 for one item).

    >>> clog2(1), clog2(2), clog2(5), clog2(128)
    (0, 1, 3, 7)
    """
    return max(n - 1, 0).bit_length()


# dotted key -> field name
FLAT_KEYS: dict[str, str] = {
    "nic.queues": "queues",
    "nic.filters": "filters",
    "nic.vlans": "vlans",
    "nic.ring_size": "ring_size",
    "nic.itr_us": "itr_us",
    "nic.irq_threshold": "irq_threshold",
    "nic.vfs": "vfs",
    "nic.clock_mhz": "clock_mhz",
    "nic.iova_bits": "iova_bits",
    "nic.pa_bits": "pa_bits",
    "iotlb.entries": "iotlb_entries",
    "iotlb.ways": "iotlb_ways",
    "iotlb.policy": "iotlb_policy",
    "iommu.levels": "iommu_levels",
    "link.gbps": "link_gbps",
}
KEY_OF: dict[str, str] = {v: k for k, v in FLAT_KEYS.items()}


@dataclass(frozen=True)
class NICParams:
    """A whole NIC. Invalid combinations raise a one-line ``ValueError`` naming the dotted key.

    >>> p = NICParams()
    >>> (p.queues, p.functions, p.queues_per_function, p.itr_cycles)
    (128, 1, 128, 2500)
    >>> NICParams(vfs=63).queues_per_function
    2
    >>> NICParams(ring_size=100)
    Traceback (most recent call last):
    ...
    ValueError: nic.ring_size: expected a power of two >= 2, got 100
    >>> NICParams(queues=4, vfs=4)
    Traceback (most recent call last):
    ...
    ValueError: nic.vfs: 5 functions need 8 queue pools, more than nic.queues (4)
    """

    queues: int = 128
    filters: int = 128
    vlans: int = MAX_VLANS
    ring_size: int = 256
    itr_us: float = 10.0
    irq_threshold: int = 0
    vfs: int = 0
    clock_mhz: float = 250.0
    iotlb_entries: int = 64
    iotlb_ways: int = 4
    iotlb_policy: str = "lru"
    iommu_levels: int = 4
    iova_bits: int = 24
    pa_bits: int = 40
    link_gbps: float = 10.0

    def __post_init__(self) -> None:
        def bad(name: str, msg: str) -> ValueError:
            return ValueError(f"{KEY_OF[name]}: {msg}")

        for f in fields(self):
            v = getattr(self, f.name)
            want = str if f.name == "iotlb_policy" else (float if f.type == "float" else int)
            if isinstance(v, bool) or not isinstance(v, (int, float) if want is float else want):
                raise bad(f.name, f"expected {want.__name__}, got {v!r}")
        if not _is_pow2(self.queues) or self.queues > 1 << 12:
            raise bad("queues", f"expected a power of two in 1 .. 4096, got {self.queues}")
        if not 1 <= self.filters <= 4096:
            raise bad("filters", f"expected 1 .. 4096, got {self.filters}")
        if not _is_pow2(self.vlans) or not 2 <= self.vlans <= MAX_VLANS:
            raise bad("vlans", f"expected a power of two in 2 .. {MAX_VLANS}, got {self.vlans}")
        if not _is_pow2(self.ring_size) or self.ring_size < 2 or self.ring_size > 1 << 16:
            raise bad("ring_size", f"expected a power of two >= 2, got {self.ring_size}")
        if not 0 <= self.itr_us <= 10_000:
            raise bad("itr_us", f"expected 0 .. 10000 (microseconds), got {self.itr_us}")
        if not 0 <= self.irq_threshold <= 1 << 16:
            raise bad("irq_threshold", f"expected 0 .. 65536 packets (0: none), got "
                                       f"{self.irq_threshold}")
        if not 0 <= self.vfs <= 1023:
            raise bad("vfs", f"expected 0 .. 1023, got {self.vfs}")
        if self.pools > self.queues:
            raise bad(
                "vfs",
                f"{self.functions} functions need {self.pools} queue pools, "
                f"more than nic.queues ({self.queues})",
            )
        if not 1 <= self.clock_mhz <= 10_000:
            raise bad("clock_mhz", f"expected 1 .. 10000, got {self.clock_mhz}")
        if self.iotlb_policy not in POLICIES:
            raise bad("iotlb_policy", f"expected one of {POLICIES}, got {self.iotlb_policy!r}")
        e, w = self.iotlb_entries, self.iotlb_ways
        if not 1 <= w <= e or e % w or not _is_pow2(e // w):
            raise bad(
                "iotlb_entries",
                f"expected a power-of-two multiple of iotlb.ways ({w}), got {e}",
            )
        if self.iotlb_policy == "plru" and not _is_pow2(w):
            raise bad("iotlb_ways", f"plru needs a power of two, got {w}")
        if not 1 <= self.iommu_levels <= MAX_LEVELS:
            raise bad("iommu_levels", f"expected 1 .. {MAX_LEVELS}, got {self.iommu_levels}")
        if not 13 <= self.iova_bits <= 32:
            raise bad("iova_bits", f"expected 13 .. 32, got {self.iova_bits}")
        if clog2(e // w) >= self.iova_bits - 12:
            raise bad("iotlb_entries", f"{e // w} sets leave no tag bits in nic.iova_bits")
        if not 32 <= self.pa_bits <= 52:
            raise bad("pa_bits", f"expected 32 .. 52, got {self.pa_bits}")
        if self.functions > 1 << 16:
            raise bad("vfs", "more functions than a 16-bit domain tag")
        if not 0 < self.link_gbps <= 1000:
            raise bad("link_gbps", f"expected 0 < gbps <= 1000, got {self.link_gbps}")

    # -- derived sizes -----------------------------------------------------------------------

    @property
    def functions(self) -> int:
        """The PF plus the VFs."""
        return self.vfs + 1

    @property
    def pools(self) -> int:
        """Queue pools: the next power of two at or above ``functions``."""
        return 1 << clog2(self.functions)

    @property
    def queues_per_function(self) -> int:
        """Queues in each function's pool."""
        return self.queues // self.pools

    @property
    def itr_cycles(self) -> int:
        """The interrupt-throttle interval in clock cycles."""
        return round(self.itr_us * self.clock_mhz)

    @property
    def queue_bits(self) -> int:
        """Width of a queue number (>= 1, so every port exists)."""
        return max(1, clog2(self.queues))

    @property
    def fn_bits(self) -> int:
        """Width of a function number / domain id on ports (>= 1)."""
        return max(1, clog2(self.functions))

    @property
    def domain_tag_bits(self) -> int:
        """IOTLB domain tag width (0 with a single function: nothing to tell apart)."""
        return clog2(self.functions)

    @property
    def slot_bits(self) -> int:
        """Width of a ring index."""
        return clog2(self.ring_size)

    @property
    def filter_bits(self) -> int:
        """Width of a filter index (>= 1)."""
        return max(1, clog2(self.filters))

    @property
    def pfn_bits(self) -> int:
        """Width of a 4 KiB physical frame number."""
        return self.pa_bits - 12

    @property
    def page_bits(self) -> int:
        """Width of an I/O page number."""
        return self.iova_bits - 12

    @property
    def pend_bits(self) -> int:
        """Width of a vector's pending-completion counter (saturates at the threshold)."""
        return max(1, self.irq_threshold.bit_length())

    @property
    def timer_bits(self) -> int:
        """Width of a vector's throttle down-counter."""
        return max(1, self.itr_cycles.bit_length())

    def wire_cycles(self, frame_bytes: int) -> float:
        """Clock cycles a frame occupies on the wire, with the 20 B of preamble, SFD and gap.

        >>> round(NICParams().wire_cycles(64), 2)  # 67.2 ns at 10 GbE, 250 MHz clock
        16.8
        """
        return 8 * (frame_bytes + 20) / self.link_gbps * self.clock_mhz / 1000

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any], base: NICParams | None = None) -> NICParams:
        """Build from the toolkit's dotted keys; keys outside ``nic.``/``iotlb.``/``iommu.``/
        ``link.`` are ignored, unknown keys inside them are errors.

        >>> NICParams.from_flat({"nic.queues": 8, "nic.vfs": 3, "seed": 1}).queues_per_function
        2
        >>> NICParams.from_flat({"nic.rings": 8})
        Traceback (most recent call last):
        ...
        ValueError: nic.rings: unknown NIC key (known: nic.queues, nic.filters, ...)
        """
        p = base if base is not None else cls()
        changes: dict[str, Any] = {}
        for key, value in flat.items():
            if key.split(".", 1)[0] not in ("nic", "iotlb", "iommu", "link"):
                continue
            if key not in FLAT_KEYS:
                raise ValueError(f"{key}: unknown NIC key (known: nic.queues, nic.filters, ...)")
            changes[FLAT_KEYS[key]] = value
        return replace(p, **changes)
