"""Other data caches in one replay (:meth:`codesign.mmu.replay.Replay.vary_tails`): the
counts of each are exactly those of a replay with that data cache, for every mechanism's
replay (native, nested, shadow), with the guest kernel's work, warm-up, the placements, and
levels that are absent; after a shared L1 (other L2 and LLC pairs under "nine") and whole
(other L1s, placements, an inclusive hierarchy)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from codesign.mmu.native import NativeParams
from codesign.mmu.nested import NestedParams
from codesign.mmu.replay import Counts, Replay, drive, replay
from codesign.mmu.shadow import ShadowParams
from codesign.params import build
from tests.mmu.conftest import stream
from tests.mmu.test_llc_variants import native, nested, plain, shadow

KIB, MIB = 1 << 10, 1 << 20
PAIRS = [((256 * KIB, 8), (2 * MIB, 16)), ((64 * KIB, 4), (2 * MIB, 16)),
         ((1 * MIB, 16), (2 * MIB, 16)), ((0, 0), (4 * MIB, 16)), ((256 * KIB, 8), (0, 0)),
         ((0, 0), (0, 0)), ((512 * KIB, 8), (1 * MIB, 4)), ((128 * KIB, 2), (8 * MIB, 16))]
"""(L2 size, ways), (LLC size, ways): L2 sizes around a walk's and a few MiB's working set,
one pair with the first's L2 and another LLC, no L2, no LLC, neither."""


def params(cls: type, l2: tuple[int, int], llc: tuple[int, int], **extra: Any) -> Any:
    keys: dict[str, Any] = {}
    for name, (size, ways) in (("l2", l2), ("llc", llc)):
        keys |= ({f"cache.{name}.size": size, f"cache.{name}.ways": ways} if size
                 else {f"cache.{name}.size": 0})
    return build(cls, {**keys, **extra})


def check(make: Any, cls: type, events: np.ndarray, ps: list[Any] | None = None,
          start: int = 1, **extra: Any) -> list[Counts]:
    """Replay once with every pair of :data:`PAIRS` (or the data caches of ``ps``) beside
    the first, and once per pair; the variants' counts must be those of the replays of
    their own."""
    ps = ps or [params(cls, l2, llc, **extra) for l2, llc in PAIRS]
    r = make(ps[0])
    r.vary_tails([p.setup(nested=r.s.nested).cache for p in ps[1:]])
    assert r.cache_tails is not None and r.cache_tails.start == start
    drive(r, events)
    one = [plain(r.c)] + [plain(r.c.variant(k)) for k in range(len(ps) - 1)]
    for k, p in enumerate(ps):
        alone = make(p)
        drive(alone, events)
        assert one[k] == alone.c, f"variant {k}"
    return one


@pytest.mark.parametrize("make,cls", [(native, NativeParams), (nested, NestedParams),
                                      (shadow, ShadowParams)], ids=["native", "nested",
                                                                    "shadow"])
def test_each_tail_is_a_replay_with_its_cache(make: Any, cls: type) -> None:
    events = stream("random", refs=20_000, footprint_mb=8)
    counts = check(make, cls, events)
    # the pairs made a difference: references served by L2 and by the LLC, and the histogram
    assert len({(c.served[1] + c.served[5] + c.served[9], c.served[2] + c.served[6]
                 + c.served[10]) for c in counts}) >= 6
    assert len({tuple(sorted(c.per_access.items())) for c in counts}) >= 5


def test_the_guest_kernels_work_and_warmup() -> None:
    events = stream("forkwait", iterations=60)
    counts = check(nested, NestedParams, events, **{"measure.warmup": 0.3})
    assert counts[0].kernel is not None and counts[0].kernel_stream is not None
    assert len({c.kernel_stream.served[9] for c in counts if c.kernel_stream}) >= 3


@pytest.mark.parametrize("placement", ["scattered", "uncoloured"])
def test_placement_and_context_switches(placement: str) -> None:
    events = stream("context-switch", refs=20_000, working_set_pages=128)
    check(native, NativeParams, events, **{"cache.placement": placement,
                                           "cache.placement_seed": 5})


@pytest.mark.parametrize("make,cls", [(native, NativeParams), (nested, NestedParams),
                                      (shadow, ShadowParams)], ids=["native", "nested",
                                                                    "shadow"])
def test_whole_data_caches_l1_placement_and_inclusion(make: Any, cls: type) -> None:
    events = stream("random", refs=20_000, footprint_mb=8)
    ps = [build(cls, x) for x in (
        {}, {"cache.l1.size": 16 * KIB, "cache.l1.ways": 4}, {"cache.l1.size": 0},
        {"cache.l1.size": 64 * KIB, "cache.l1.ways": 8, "cache.l2.size": 0},
        {"cache.placement": "uncoloured", "cache.placement_seed": 1},
        {"cache.placement": "uncoloured", "cache.placement_seed": 2},
        {"cache.inclusion": "inclusive", "cache.llc.size": 2 * MIB, "cache.llc.ways": 16},
        {"cache.line": 128})]
    counts = check(make, cls, events, ps, start=0)
    assert len({tuple(c.served) for c in counts}) == len(ps)
    # an inclusive hierarchy's own LLC sizes: whole tails too
    inclusive = [build(cls, {"cache.inclusion": "inclusive", "cache.llc.size": s,
                             "cache.llc.ways": 16}) for s in (MIB, 2 * MIB, 8 * MIB)]
    check(make, cls, events, inclusive, start=0)


def test_tails_are_set_once_before_the_replay() -> None:
    events = stream("random", refs=2_000, footprint_mb=1)
    p = build(NestedParams, {})
    cache = p.setup(nested=True).cache
    r = Replay(p.setup(nested=True))
    drive(r, events)
    with pytest.raises(ValueError, match="before the replay starts"):
        r.vary_tails([cache])
    assert replay(events, p.setup(nested=True), tails=(replace(cache, l1=cache.l2),)).refs
    bare = replace(p.setup(nested=True), cache=None)
    with pytest.raises(ValueError, match="need a data cache"):
        Replay(bare).vary_tails([cache])
    twice = Replay(p.setup(nested=True))
    twice.vary_tails([cache])
    with pytest.raises(ValueError, match="already set"):
        twice.vary_llc([cache.llc])
