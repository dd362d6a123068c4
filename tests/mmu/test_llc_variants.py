"""Several LLCs in one replay (:meth:`codesign.mmu.replay.Replay.vary_llc`): the counts of
each variant are exactly those of a replay with that LLC, for every mechanism's replay
(native, nested, shadow), with the guest kernel's work, warm-up, scattered placement, and an
LLC that is absent."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from codesign.mmu.native import NativeParams
from codesign.mmu.nested import NestedParams
from codesign.mmu.replay import Counts, Replay, drive, replay
from codesign.mmu.shadow import ShadowParams, ShadowReplay
from codesign.params import build
from tests.mmu.conftest import stream

KIB, MIB = 1 << 10, 1 << 20
LLCS = [(256 * KIB, 16), (1 * MIB, 16), (1 * MIB, 4), (4 * MIB, 16), (0, 0), (16 * MIB, 8),
        (512 * KIB, 2)]
"""(size, ways): sizes that split a few MiB working set differently, two with the same sets
as another (one Mattson stack), no LLC at all."""


def plain(c: Counts) -> Counts:
    """``c`` without its variants, recursively (what a replay without them holds)."""
    return replace(c, variants=[], kernel=plain(c.kernel) if c.kernel else None,
                   kernel_stream=plain(c.kernel_stream) if c.kernel_stream else None)


def params(cls: type, size: int, ways: int, **extra: Any) -> Any:
    llc = {"cache.llc.size": size, "cache.llc.ways": ways} if size else {"cache.llc.size": 0}
    return build(cls, {**llc, **extra})


def check(make: Any, cls: type, events: np.ndarray, **extra: Any) -> list[Counts]:
    """Replay once with every LLC of :data:`LLCS` beside the first, and once per LLC; the
    variants' counts must be those of the replays of their own."""
    ps = [params(cls, s, w, **extra) for s, w in LLCS]
    r = make(ps[0])
    r.vary_llc([p.setup(nested=r.s.nested).cache.llc for p in ps[1:]])
    drive(r, events)
    one = [plain(r.c)] + [plain(r.c.variant(k)) for k in range(len(ps) - 1)]
    for k, p in enumerate(ps):
        alone = make(p)
        drive(alone, events)
        assert one[k] == alone.c, f"variant {k} ({LLCS[k]})"
    return one


def native(p: NativeParams) -> Replay:
    return Replay(p.setup(nested=False))


def nested(p: NestedParams) -> Replay:
    return Replay(p.setup(nested=True))


def shadow(p: ShadowParams) -> Replay:
    return ShadowReplay(p.setup(nested=False), p.cache, p.pool)


@pytest.mark.parametrize("make,cls", [(native, NativeParams), (nested, NestedParams),
                                      (shadow, ShadowParams)], ids=["native", "nested",
                                                                    "shadow"])
def test_each_variant_is_a_replay_with_its_llc(make: Any, cls: type) -> None:
    events = stream("random", refs=20_000, footprint_mb=8)
    counts = check(make, cls, events)
    # the LLCs made a difference: walk and data references served by it, and the histogram
    llc_hits = {c.served[2] + c.served[6] + c.served[10] for c in counts}
    assert len(llc_hits) >= 5
    assert len({tuple(sorted(c.per_access.items())) for c in counts}) >= 5


def test_the_guest_kernels_work_and_warmup() -> None:
    events = stream("forkwait", iterations=60)
    counts = check(nested, NestedParams, events, **{"measure.warmup": 0.3})
    assert counts[0].kernel is not None and counts[0].kernel_stream is not None
    assert len({c.kernel_stream.served[10] for c in counts if c.kernel_stream}) >= 3


@pytest.mark.parametrize("placement", ["scattered", "uncoloured"])
def test_placement_and_context_switches(placement: str) -> None:
    events = stream("context-switch", refs=20_000, working_set_pages=128)
    check(native, NativeParams, events, **{"cache.placement": placement,
                                           "cache.placement_seed": 5})


def test_variants_are_set_before_the_replay_with_a_non_inclusive_data_cache() -> None:
    events = stream("random", refs=2_000, footprint_mb=1)
    p = build(NestedParams, {})
    r = Replay(p.setup(nested=True))
    drive(r, events)
    with pytest.raises(ValueError, match="before the replay starts"):
        r.vary_llc([p.setup(nested=True).cache.llc])
    inclusive = build(NestedParams, {"cache.inclusion": "inclusive"}).setup(nested=True)
    with pytest.raises(ValueError, match="inclusion = 'nine'"):
        replay(events, inclusive, llcs=(inclusive.cache.llc,))
    bare = replace(p.setup(nested=True), cache=None)
    with pytest.raises(ValueError, match="need a data cache"):
        Replay(bare).vary_llc([p.setup(nested=True).cache.llc])


def test_a_replay_that_decides_by_cost_takes_no_variants() -> None:
    from codesign.mmu.selective import SelectiveParams, SelectiveReplay

    p = build(SelectiveParams, {})
    r = SelectiveReplay(p.setup(nested=False), p.setup(nested=True), p, 1000.0, 200.0)
    with pytest.raises(ValueError, match="decides by what references cost"):
        r.vary_llc([p.setup(nested=True).cache.llc])
