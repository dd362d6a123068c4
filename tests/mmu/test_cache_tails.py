"""Other L2 and LLC pairs in one replay (:meth:`codesign.mmu.replay.Replay.vary_tails`): the
counts of each are exactly those of a replay with that data cache, for every mechanism's
replay (native, nested, shadow), with the guest kernel's work, warm-up, the placements, and
levels that are absent."""

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


def check(make: Any, cls: type, events: np.ndarray, **extra: Any) -> list[Counts]:
    """Replay once with every pair of :data:`PAIRS` beside the first, and once per pair;
    the variants' counts must be those of the replays of their own."""
    ps = [params(cls, l2, llc, **extra) for l2, llc in PAIRS]
    r = make(ps[0])
    r.vary_tails([p.setup(nested=r.s.nested).cache for p in ps[1:]])
    drive(r, events)
    one = [plain(r.c)] + [plain(r.c.variant(k)) for k in range(len(ps) - 1)]
    for k, p in enumerate(ps):
        alone = make(p)
        drive(alone, events)
        assert one[k] == alone.c, f"variant {k} ({PAIRS[k]})"
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


def test_tails_are_set_once_before_the_replay_with_a_non_inclusive_data_cache() -> None:
    events = stream("random", refs=2_000, footprint_mb=1)
    p = build(NestedParams, {})
    cache = p.setup(nested=True).cache
    r = Replay(p.setup(nested=True))
    drive(r, events)
    with pytest.raises(ValueError, match="before the replay starts"):
        r.vary_tails([cache])
    inclusive = build(NestedParams, {"cache.inclusion": "inclusive"}).setup(nested=True)
    with pytest.raises(ValueError, match="inclusion = 'nine'"):
        replay(events, inclusive, tails=(inclusive.cache,))
    with pytest.raises(ValueError, match=r"only in cache\.l2 and cache\.llc"):
        Replay(p.setup(nested=True)).vary_tails([replace(cache, l1=cache.l2)])
    twice = Replay(p.setup(nested=True))
    twice.vary_tails([cache])
    with pytest.raises(ValueError, match="already set"):
        twice.vary_llc([cache.llc])
