"""``native``: a bare-metal MMU — two TLB levels, then page-walk cache, then a 1D walk.

Replays a memory workload (an OS-event stream) through the guest-OS model
(:mod:`codesign.mmu.guest`, here the only OS: every (vm, pid) of the stream is one of its
processes) and the behavioural TLBs and page walker (:mod:`codesign.mmu.replay`). Each ACCESS
looks up the first-level TLB, then on a miss the second-level TLB (``tlb.l2.entries``; 0:
none); a miss in both walks the ``guest.levels``-level table from CR3 through the page-walk
caches and fills both TLBs. A CR3 write (SWITCH, or a VM_SWITCH, which natively is a switch
to another process) flushes the address space's entries unless ``tlb.pcid``; UNMAP /
PROTECT / COW faults INVLPG what changed; SHOOTDOWN sends IPIs.

Metrics (the shape every MMU mechanism returns; priced by :mod:`codesign.mmu.cost`):
``refs``, ``tlb.l1.hits`` / ``.misses``, ``tlb.l2.hits`` / ``.misses``, ``walks``,
``walk.refs`` (``.guest``, ``.nested``: 0 natively; ``.l1``, ``.l2``, ``.llc``, ``.memory``:
by the data-cache level that served them), ``data.refs.{l1,l2,llc,memory}`` (each access's
own reference, likewise), ``cache.{l1,l2,llc}.hits`` (both kinds), ``walk.refs_per_walk``,
``walk.pwc_hits`` (``.guest``: walks that hit the guest page-walk cache; ``.nested``: hits
in the nested dimension's), ``walk.ntlb_hits``, ``faults.page`` (demand + copy-on-write:
the kernel's own, not traps), ``os.*`` counts, ``traps.total`` (0 natively), the cycle
breakdown ``cycles.{base,data,translation,traps,os}`` and ``cycles.total``, ``cycles_per_ref``,
``throughput.refs_per_s``, ``slowdown_vs_native`` (1 here) and
``latency.{mean,p50,p99}_cycles`` per translation (the walk's references, an L2 hit, the
fault the access raised; 0 on a first-level hit). Walk and data references go through the
data-cache hierarchy (``cache.*`` keys: sizes, ways, line, inclusion; the latencies are
platform costs) in stream order, so table lines compete with data lines: a walk reference
costs the latency of the level that served it, a data reference what that level adds to an L1
hit (:mod:`codesign.mmu.cost`). Natively ``tlb.vpid`` changes nothing
(there are no VMs) and ``host.levels`` only bounds the guest-physical space the OS model
allocates from.

>>> from codesign.harness import Point, evaluate
>>> m = evaluate(Point("sequential", "native", params={"workload.refs": 2048,
...     "workload.footprint_mb": 1, "workload.element_bytes": 64, "hw.cost": False}))
>>> m["refs"], m["tlb.l1.misses"], m["faults.page"], m["walk.refs_per_walk"] < 4
(2048, 32, 32, True)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from codesign.hardware import CacheKeys, STLBKeys, TLBKeys, WalkerKeys
from codesign.metrics import Metrics
from codesign.mmu import cost
from codesign.mmu.cost import Costs
from codesign.mmu.guest import HUGE_POLICIES, GuestConfig
from codesign.mmu.kernel import KernelKeys
from codesign.mmu.onepass import LANES, one_pass
from codesign.mmu.replay import Counts, Replay, Setup, drive, replay
from codesign.params import param
from codesign.platforms import Platform
from codesign.registry import Mechanism
from codesign.resultcache import cached_many
from workloads.memory.chunked import Stream, named, stream_digest

NESTED_ONLY = ("host.levels", "pwc.nested.entries", "ntlb.entries", "ntlb.ways")
"""Walker keys of the nested dimension, which a mechanism that walks in one dimension
(native, shadow, pv-direct) never reads: ``Mechanism.ignores`` leaves them out of its
listing (tests/mmu/test_ignored_keys.py checks they change nothing)."""


@dataclass(frozen=True)
class NativeParams(TLBKeys, STLBKeys, WalkerKeys, CacheKeys, KernelKeys):
    """Parameters of ``native``: the TLBs', walker's and data cache's keys, the guest
    kernel's work (``kernel.*``) and the OS's huge-page policy."""

    huge: str = param("none", key="guest.huge_pages", choices=HUGE_POLICIES,
                      doc="guest OS huge pages: none, or 2M where an aligned 2 MiB region "
                          "lies in one mapping (transparent huge pages on fault)")
    warmup: float = param(0.0, key="measure.warmup", min=0.0, max=0.99,
                          doc="fraction of the stream's accesses replayed before counting "
                              "starts: TLBs, caches, tables, shadows and host backing warm "
                              "up, and every count and cycle is of the rest -- steady state, "
                              "as benchmarks that run long past first touch measure it "
                              "(rounded down to whole chunks of 4,096 accesses; 0: from "
                              "the first access)")

    def __post_init__(self) -> None:
        TLBKeys.to_hw(self)
        STLBKeys.to_hw(self)
        WalkerKeys.to_hw(self)
        CacheKeys.to_hw(self)
        self.guest_config()

    def guest_config(self) -> GuestConfig:
        """The guest-OS model's configuration."""
        return GuestConfig(guest_levels=self.guest_levels, host_levels=self.host_levels,
                           huge=self.huge)

    def setup(self, nested: bool) -> Setup:
        """What :func:`~codesign.mmu.replay.replay` runs with."""
        return _setup(self, self.guest_config(), nested)


def _setup(p: NativeParams, guest: GuestConfig, nested: bool) -> Setup:
    return Setup(guest, TLBKeys.to_hw(p), WalkerKeys.to_hw(p), nested, STLBKeys.to_hw(p),
                 CacheKeys.to_hw(p), p.l2_2m, p.kernel_params(), p.warmup)


def native_setup(p: NativeParams) -> Setup:
    """The setup of the native run that ``slowdown_vs_native`` compares a mechanism with:
    the same TLBs, walker, data cache and guest OS, no hypervisor."""
    return _setup(p, NativeParams.guest_config(p), nested=False)


_NATIVE_MEMO: OrderedDict[tuple[str, Setup, Costs], float] = OrderedDict()


def native_total(events: Stream, p: NativeParams, costs: Costs) -> float:
    """``cycles.total`` of the native mechanism on ``events`` with ``p``'s hardware,
    computed once per installation (and a few recent results kept in memory): every
    mechanism of a sweep, in any worker, and every later run share it
    (:mod:`codesign.resultcache`)."""
    return native_totals(events, [p], costs)[0]


def native_totals(events: Stream, ps: Sequence[NativeParams], costs: Costs) -> list[float]:
    """:func:`native_total` of each of ``ps``, parameters that differ only in the sizes of
    the data cache and the translation hardware
    (:func:`codesign.mmu.onepass.same_but_hardware`): those not computed before come from
    one native replay, with their data caches side by side and a lane per translation
    hardware (:meth:`Replay.vary`)."""
    setups = [native_setup(p) for p in ps]

    def compute(missing: list[int]) -> list[float]:
        mine = [setups[i] for i in missing]
        if len(mine) == 1:
            return [_total(replay(events, mine[0]), costs)]
        r = Replay(mine[0])
        r.vary(mine)
        drive(r, events)
        return [_total(r.counts_of(k), costs) for k in range(len(mine))]

    return _native_entries(events, setups, costs, compute)


def _native_entries(events: Stream, setups: list[Setup], costs: Costs,
                    compute: Callable[[list[int]], list[float]]) -> list[float]:
    """The native totals of ``setups`` on ``events``: from memory, from the result cache, or
    from ``compute(missing)`` (stored in both)."""
    digest = stream_digest(events)
    keys = [(digest, s, costs) for s in setups]
    if all(k in _NATIVE_MEMO for k in keys):
        return [_NATIVE_MEMO[k] for k in keys]
    inputs = [[digest, len(events), repr(s), repr(costs)] for s in setups]
    totals = [float(t) for t in cached_many("native", inputs, compute)]
    for k, t in zip(keys, totals, strict=True):
        _NATIVE_MEMO[k] = t
    while len(_NATIVE_MEMO) > max(8, len(keys)):
        _NATIVE_MEMO.popitem(last=False)
    return totals


def _total(c: Counts, costs: Costs) -> float:
    return float(cost.metrics(c, costs, trap_counts={}, trap_cycles={}, unit_cycles=0.0,
                              extra={})["cycles.total"])


def _make(p: NativeParams, platform: Platform) -> Replay:
    return Replay(native_setup(p))


def _finish(r: Replay, events: Stream, p: NativeParams, platform: Platform) -> Metrics:
    return cost.metrics(r.c, Costs.of(platform), trap_counts={}, trap_cycles={},
                        unit_cycles=0.0, extra={})


def run(events: Stream, p: NativeParams, platform: Platform) -> Metrics:
    """Metrics of replaying ``events`` natively. Its ``cycles.total`` is the native
    reference of a virtualized mechanism on the same stream and hardware
    (:func:`native_total`), which then replays nothing natively again: kept for a stream
    named without hashing it (a point's, :func:`workloads.memory.chunked.named`)."""
    r = _make(p, platform)
    drive(r, events)
    metrics = _finish(r, events, p, platform)
    if named(events):  # else naming the stream would hash it: as long as the replay
        total = float(metrics["cycles.total"])
        _native_entries(events, [native_setup(p)], Costs.of(platform), lambda _: [total])
    return metrics


HEADLINE = ("cycles_per_ref", "slowdown_vs_native", "walk.refs_per_walk", "tlb.l1.misses",
            "traps.total", "latency.p99_cycles")

MECHANISM = Mechanism(
    name="native",
    accepts=("memory",),
    summary="bare-metal MMU: tagged L1 and second-level TLBs, page-walk caches, 1D walk over "
            "the OS's tables",
    params=NativeParams,
    run=run,
    costs=cost.COSTS,
    headline=HEADLINE,
    hardware=("tlb", "stlb", "walker"),
    ignores=NESTED_ONLY,
    version="10",
    run_many=one_pass(_make, _finish),
    one_pass=LANES,
)
