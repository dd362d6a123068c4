"""The data-cache hierarchy: parameters, facts of its behaviour, and the compiled model judged
against a golden model on generated and recorded streams.

Roles, as in the TLB's differential tests: the **reference** is :class:`GoldenHierarchy`
below (one ``OrderedDict`` per set per level, most recent last: short and obvious, and
sharing no code with ``hwmodels.cache.model``); the **drivers** are hypothesis draws and a
recorded lackey trace; the **scoreboard** compares the level of every reference, then the
counters and each level's contents.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels.cache import (
    ABSENT,
    LEVEL_NAMES,
    MEMORY,
    SERVED_NAMES,
    CacheLevelParams,
    CacheModel,
    CacheParams,
    access_addr,
)
from tests.hwmodels.tlb_harness import read_lackey

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
L1, L2, LLC = 0, 1, 2

# A small hierarchy in which a few thousand references reach every level.
SMALL = CacheParams(l1=CacheLevelParams(1 * KIB, 2, 4), l2=CacheLevelParams(4 * KIB, 4, 10),
                    llc=CacheLevelParams(16 * KIB, 8, 40))


class GoldenHierarchy:
    """Reference model of the documented semantics (hwmodels/cache/model.py)."""

    def __init__(self, p: CacheParams) -> None:
        self.line_bits = p.line_bits
        self.page_bits = 12 - p.line_bits
        self.key = p.placement_seed if p.placement != "ordered" else None
        self.uncoloured = p.placement == "uncoloured"
        self.ways = [lv.ways for lv in p.levels]
        self.sets: list[list[OrderedDict[int, None]]] = [
            [OrderedDict() for _ in range(n)] for n in p.sets]
        self.inclusive = p.inclusion == "inclusive"
        self.served = [0, 0, 0, 0]
        self.evictions = [0, 0, 0]
        self.back_invalidations = 0

    def _set(self, level: int, line: int) -> OrderedDict[int, None] | None:
        sets = self.sets[level]
        return sets[line % len(sets)] if sets else None

    def name(self, line: int) -> int:
        """The line as placed: itself; (scattered) its frame's index in its 2 MiB block
        through the block's keyed permutation; (uncoloured) its frame made a 2 MiB block of
        its own, at a keyed hash of the frame number in it. Written out here step by step."""
        if self.key is None:
            return line
        frame, offset = divmod(line, 1 << self.page_bits)
        if self.uncoloured:
            mask = 2**62 - 1
            h = (frame ^ (self.key * 0x2545F4914F6CDD1D)) & mask
            h ^= h >> 31
            h = (h * 0x3F58476D1CE4E5B9) & mask
            h ^= h >> 29
            h = (h * 0x14D049BB133111EB) & mask
            h ^= h >> 32
            return ((frame * 512 + h % 512) << self.page_bits) + offset
        block, index = divmod(frame, 512)
        h = (block ^ self.key) % 2**31
        h = (h * 0x5BD1E995) % 2**31
        h ^= h >> 15
        h = (h * 0x27D4EB2F) % 2**31
        h ^= h >> 13
        x = index ^ (h % 512)
        x = (x * ((h >> 9) % 256 * 2 + 1)) % 512
        x ^= x >> 5
        x = (x * 469) % 512
        x ^= x >> 4
        x = (x + (h >> 18)) % 512
        return ((block * 512 + x) << self.page_bits) + offset

    def access(self, addr: int) -> int:
        line = self.name(addr >> self.line_bits)
        served = MEMORY
        for level in range(3):
            s = self._set(level, line)
            if s is not None and line in s:
                s.move_to_end(line)
                served = level
                break
        self.served[served] += 1
        for level in reversed(range(served)):
            s = self._set(level, line)
            if s is None:
                continue
            if len(s) == self.ways[level]:
                victim, _ = s.popitem(last=False)
                self.evictions[level] += 1
                if level == LLC and self.inclusive:
                    for inner in (L1, L2):
                        t = self._set(inner, victim)
                        if t is not None and victim in t:
                            del t[victim]
                            self.back_invalidations += 1
            s[line] = None
        return served

    def invalidate(self, addr: int) -> int:
        line = self.name(addr >> self.line_bits)
        held = 0
        for level in range(3):
            s = self._set(level, line)
            if s is not None and line in s:
                del s[line]
                held += 1
        return held

    def counters(self) -> dict[str, int]:
        out = {f"served.{n}": self.served[k] for k, n in enumerate(SERVED_NAMES)}
        out |= {f"evictions.{n}": self.evictions[k] for k, n in enumerate(LEVEL_NAMES)}
        out["back_invalidations"] = self.back_invalidations
        out["lookups"] = sum(self.served)
        return out

    def contents(self, level: int) -> list[int]:
        return sorted(line for s in self.sets[level] for line in s)


def assert_same(model: CacheModel, golden: GoldenHierarchy, addrs: np.ndarray) -> np.ndarray:
    """Scoreboard: run ``addrs`` through both; same level per reference, same counters and
    contents. Returns the levels."""
    got = model.access(addrs)
    want = np.array([golden.access(int(a)) for a in addrs], dtype=np.uint8)
    if not np.array_equal(got, want):
        i = int(np.flatnonzero(got != want)[0])
        raise AssertionError(f"reference {i} ({int(addrs[i]):#x}): model {got[i]}, "
                             f"golden {want[i]}")
    assert model.counters() == golden.counters()
    for level in range(3):
        assert model.contents(level) == golden.contents(level)
    return got


# -- parameters -------------------------------------------------------------------------------


def test_defaults_are_the_documented_nehalem_assumptions() -> None:
    p = CacheParams()
    assert [(lv.size, lv.ways, lv.latency) for lv in p.levels] == [
        (32 * KIB, 8, 4.0), (256 * KIB, 8, 10.0), (8 * MIB, 16, 40.0)]
    assert (p.line, p.line_bits, p.inclusion, p.sets) == (64, 6, "nine", (64, 512, 8192))
    assert p.latencies(200) == (4.0, 10.0, 40.0, 200.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"line": 48}, "cache.line: expected a power of two from 8 to 4096 bytes, got 48"),
        ({"line": 8192}, "cache.line: expected a power of two from 8 to 4096 bytes, got 8192"),
        ({"inclusion": "exclusive"},
         "cache.inclusion: expected one of ('nine', 'inclusive'), got 'exclusive'"),
        ({"inclusion": "inclusive", "llc": ABSENT},
         "cache.inclusion: 'inclusive' needs an LLC (cache.llc.size > 0)"),
        ({"l1": CacheLevelParams(1000, 1, 4)},
         "cache.l1.size: expected a multiple of the line (64 B), got 1000"),
        ({"l1": CacheLevelParams(128, 4, 4)},
         "cache.l1.ways: expected 1 .. 2 (lines of the level), got 4"),
        ({"llc": CacheLevelParams(12 * MIB, 16, 40)},
         "cache.llc.size: expected ways x line x a power-of-two number of sets, "
         "got 12582912 (12288 sets of 16 x 64 B)"),
        ({"l2": (256 * KIB, 8, 10)},
         "cache.l2: expected a CacheLevelParams, got (262144, 8, 10)"),
    ],
)  # fmt: skip
def test_hierarchy_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        CacheParams(**kwargs)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-64, 1), "size: expected an integer number of bytes from 0 to 1073741824 (1 GiB), "
                   "got -64"),
        ((2 * GIB, 1), "size: expected an integer number of bytes from 0 to 1073741824 "
                       "(1 GiB), got 2147483648"),
        ((64.0, 1), "size: expected an integer number of bytes from 0 to 1073741824 (1 GiB), "
                    "got 64.0"),
        ((64, True), "ways: expected an integer >= 1, got True"),
        ((64, 1, -1), "latency: expected a finite number of cycles >= 0, got -1"),
        ((64, 1, float("inf")), "latency: expected a finite number of cycles >= 0, got inf"),
        ((64, 1, "4"), "latency: expected a finite number of cycles >= 0, got '4'"),
    ],
)  # fmt: skip
def test_level_validation(args: tuple, message: str) -> None:
    with pytest.raises(ValueError) as err:
        CacheLevelParams(*args)
    assert str(err.value) == message


def test_absent_level_is_canonical() -> None:
    assert CacheLevelParams(0, 16, 40) == ABSENT
    assert hash(CacheParams(llc=CacheLevelParams(0, 3, 9))) == hash(CacheParams(llc=ABSENT))
    assert CacheParams(llc=ABSENT).slots == (32 * KIB + 256 * KIB) // 64


def test_from_flat_sets_levels_and_names_keys() -> None:
    p = CacheParams.from_flat({"cache.l1.size": 48 * KIB, "cache.l1.ways": 12,
                               "cache.l2.latency": 12, "cache.line": 64,
                               "cache.inclusion": "inclusive", "tlb.l1.entries": 64})
    assert p.l1 == CacheLevelParams(48 * KIB, 12, 4)
    assert (p.l2.latency, p.inclusion, p.llc) == (12.0, "inclusive", CacheParams().llc)
    assert CacheParams.from_flat({}) == CacheParams()
    base = CacheParams(llc=ABSENT)
    assert CacheParams.from_flat({"cache.llc.size": MIB, "cache.llc.ways": 16,
                                  "cache.llc.latency": 30}, base).llc.latency == 30.0


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        ({"cache.l1.ways": 0}, "cache.l1.ways: expected an integer >= 1, got 0"),
        ({"cache.l2.latency": -3}, "cache.l2.latency: expected a finite number of cycles >= 0, "
                                   "got -3"),
        ({"cache.l3.size": MIB}, "cache.l3.size: unknown cache key"),
        ({"cache.l1.assoc": 8}, "cache.l1.assoc: unknown cache key"),
        ({"cache.line": 100}, "cache.line: expected a power of two from 8 to 4096 bytes, got 100"),
    ],
)  # fmt: skip
def test_from_flat_errors(flat: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        CacheParams.from_flat(flat)
    assert str(err.value) == message


def test_from_flat_enabling_an_absent_level_needs_its_ways_and_latency() -> None:
    base = CacheParams(llc=ABSENT)
    with pytest.raises(ValueError, match=r"^cache\.llc\.ways: expected with cache\.llc\.size"):
        CacheParams.from_flat({"cache.llc.size": MIB}, base)
    with pytest.raises(ValueError, match=r"^cache\.llc\.latency: expected with cache\.llc"):
        CacheParams.from_flat({"cache.llc.size": MIB, "cache.llc.ways": 16}, base)


# -- facts ------------------------------------------------------------------------------------


def test_sequential_words_hit_l1_seven_times_in_eight() -> None:
    m = CacheModel(CacheParams())
    addrs = np.arange(0x40000, 0x40000 + 64 * KIB, 8, dtype=np.uint64)  # 8 words per line
    levels = m.access(addrs)
    assert levels.tolist() == [MEMORY, L1, L1, L1, L1, L1, L1, L1] * (len(addrs) // 8)


def test_random_stream_far_beyond_the_llc_goes_to_memory() -> None:
    m = CacheModel(CacheParams())
    addrs = np.random.default_rng(5).integers(0, 4 * GIB, size=50_000, dtype=np.uint64)
    levels = m.access(addrs)
    # 8 MiB of 4 GiB is 1/512 of the lines: the LLC can serve about 0.2% at best.
    assert (levels == MEMORY).mean() > 0.99
    assert (levels == L1).sum() < 50


@pytest.mark.parametrize(("footprint", "served"), [(128 * KIB, L2), (2 * MIB, LLC)])
def test_footprint_between_two_levels_is_served_by_the_outer_one(footprint: int,
                                                                 served: int) -> None:
    """A cyclic scan over more than L1 (or L2) but within L2 (or the LLC): LRU evicts every
    line from the smaller level before it comes back, the larger one keeps them all."""
    m = CacheModel(CacheParams())
    scan = np.arange(0, footprint, 64, dtype=np.uint64)
    assert (m.access(scan) == MEMORY).all()  # cold
    for _ in range(3):
        assert (m.access(scan) == served).all()


def test_walk_entries_compete_with_data_for_l1() -> None:
    """Lines are lines: a table line hot in L1 is pushed out by data that maps to its set."""
    m = CacheModel(CacheParams())
    pte = 0x7_0000_0038  # a page-table entry: line 0x1c000000, L1 set 0
    assert m.access_one(pte) == MEMORY
    assert m.access_one(pte) == L1
    sets_l1 = CacheParams().sets[L1]
    data = np.arange(1, 9, dtype=np.uint64) * np.uint64(sets_l1 * 64)  # 8 lines of L1 set 0
    m.access(data)
    assert m.access_one(pte) == L2  # evicted from the 8-way L1 set, still in L2


def test_inclusive_llc_evicts_a_line_hot_in_l1() -> None:
    """Inclusion victims: an LLC eviction removes the line from L1 although L1 kept using it
    (L1 hits do not refresh the LLC's LRU order); without inclusion L1 keeps it."""
    tiny = dict(l1=CacheLevelParams(128, 2, 1), l2=ABSENT, llc=CacheLevelParams(256, 2, 5))
    results = {}
    for inclusion in ("nine", "inclusive"):
        m = CacheModel(CacheParams(**tiny, inclusion=inclusion))
        hot = 0  # line 0: L1 set 0, LLC set 0
        # Lines 2 and 4 map to LLC set 0 and L1 set 0: filling them evicts line 0 from the
        # LLC; line 0 is used between them, so it stays the most recent line of L1 set 0.
        seq = [hot, 2 * 64, hot, 4 * 64, hot]
        results[inclusion] = [m.access_one(a) for a in seq]
        results[inclusion + " back"] = m.counters()["back_invalidations"]
    assert results["nine"] == [MEMORY, MEMORY, L1, MEMORY, L1]
    assert results["nine back"] == 0
    assert results["inclusive"] == [MEMORY, MEMORY, L1, MEMORY, MEMORY]
    # Line 0 at the fourth reference; at the fifth, refilling line 0 evicts line 2, also in L1.
    assert results["inclusive back"] == 2


def test_back_invalidation_frees_the_way_the_fill_takes() -> None:
    """L2 and LLC of one 2-way set each, no L1. After a, b, a: L2 holds a (recent) and b,
    the LLC a (oldest: its L2 hit refreshed only L2) and b. Filling c evicts a from the LLC;
    inclusive, that also removes a from L2, whose free way then takes c (b stays), while
    without inclusion L2 evicts its own LRU line, b (and a when b comes back)."""
    two = dict(l1=ABSENT, l2=CacheLevelParams(128, 2, 10), llc=CacheLevelParams(128, 2, 40))
    a, b, c = 0, 64, 128
    for inclusion, levels, l2 in (("nine", [MEMORY, MEMORY, L2, MEMORY, LLC], 2),
                                  ("inclusive", [MEMORY, MEMORY, L2, MEMORY, L2], 0)):
        p = CacheParams(**two, inclusion=inclusion)
        m, golden = CacheModel(p), GoldenHierarchy(p)
        assert [m.access_one(x) for x in (a, b, a, c, b)] == levels
        assert [golden.access(x) for x in (a, b, a, c, b)] == levels
        assert m.counters()["evictions.l2"] == l2


def test_absent_levels_never_serve() -> None:
    none = CacheModel(CacheParams(l1=ABSENT, l2=ABSENT, llc=ABSENT))
    assert set(none.access(np.array([0, 0, 8, 64, 0])).tolist()) == {MEMORY}
    no_l1 = CacheModel(CacheParams(l1=ABSENT))
    assert no_l1.access(np.array([0, 8, 64, 0])).tolist() == [MEMORY, L2, MEMORY, L2]
    assert no_l1.contents(L1) == []


def test_flush_reset_and_invalidate() -> None:
    m = CacheModel(SMALL)
    addrs = np.arange(0, 8 * KIB, 64, dtype=np.uint64)
    first = m.access(addrs)
    m.flush()
    assert (m.access(addrs[:4]) == MEMORY).all()
    assert m.counters()["lookups"] == len(addrs) + 4  # flush keeps counters
    m.reset()
    assert m.counters()["lookups"] == 0
    assert np.array_equal(m.access(addrs), first)  # reset is power-on
    m.access_one(0x100)
    assert m.invalidate(0x13F) == 3  # same line: every level held it
    assert m.invalidate(0x100) == 0
    assert m.access_one(0x100) == MEMORY  # also when it was the last line looked up


def test_uint64_and_int64_addresses_agree() -> None:
    addrs = np.random.default_rng(2).integers(0, 1 << 40, size=2000, dtype=np.uint64) >> (
        np.arange(2000, dtype=np.uint64) % np.uint64(20))
    a, b = CacheModel(SMALL), CacheModel(SMALL)
    assert np.array_equal(a.access(addrs), b.access(addrs.astype(np.int64)))


@numba.njit
def _caller_kernel(state, addrs, out):
    # What a replay kernel does: the per-reference function inside its own compiled loop.
    for i in range(addrs.shape[0]):
        out[i] = access_addr(state, addrs[i])


def test_per_reference_function_inside_a_kernel_matches_the_batch() -> None:
    addrs = lackey_addresses()
    batch, single = CacheModel(SMALL), CacheModel(SMALL)
    out = np.empty(len(addrs), dtype=np.uint8)
    _caller_kernel(single.state, addrs.view(np.int64), out)
    assert np.array_equal(out, batch.access(addrs))
    assert single.counters() == batch.counters()


# -- differential: model vs golden ------------------------------------------------------------


def lackey_addresses() -> np.ndarray:
    """The recorded gzip deflate slice (tests/data), as byte addresses."""
    return read_lackey()


@pytest.mark.parametrize("inclusion", ["nine", "inclusive"])
@pytest.mark.parametrize("params", [SMALL, CacheParams()], ids=["small", "default"])
def test_lackey_trace_matches_golden(params: CacheParams, inclusion: str) -> None:
    p = dataclasses.replace(params, inclusion=inclusion)
    addrs = np.tile(lackey_addresses(), 2)  # twice: the second pass meets a warm hierarchy
    levels = assert_same(CacheModel(p), GoldenHierarchy(p), addrs)
    if params is SMALL:  # the stream reaches every level, so every path was compared
        assert all((levels == lv).any() for lv in range(4))


def test_mixed_stream_matches_golden() -> None:
    """Strided scans interleaved with random references over 16 MiB (beyond the default LLC)."""
    rng = np.random.default_rng(11)
    n = 60_000
    stride = (np.arange(n, dtype=np.uint64) * np.uint64(24)) % np.uint64(3 * MIB)
    rand = rng.integers(0, 16 * MIB, size=n, dtype=np.uint64)
    addrs = np.where(rng.random(n) < 0.7, stride, rand)
    for inclusion in ("nine", "inclusive"):
        p = CacheParams(inclusion=inclusion)
        levels = assert_same(CacheModel(p), GoldenHierarchy(p), addrs)
        assert all((levels == lv).any() for lv in range(4))


@st.composite
def hierarchies(draw: st.DrawFn) -> CacheParams:
    """Small hierarchies: 1-8 sets, 1-4 ways, any level possibly absent, 8 or 64 B lines."""
    line = draw(st.sampled_from([8, 64]))
    levels = []
    for _ in range(3):
        if draw(st.integers(0, 4)) == 0:
            levels.append(ABSENT)
        else:
            sets, ways = draw(st.sampled_from([1, 2, 4, 8])), draw(st.integers(1, 4))
            levels.append(CacheLevelParams(sets * ways * line, ways, 1))
    inclusion = draw(st.sampled_from(["nine", "inclusive"])) if levels[2].enabled else "nine"
    return CacheParams(*levels, line=line, inclusion=inclusion)


@settings(derandomize=True, max_examples=80, deadline=None)
@given(params=hierarchies(),
       ops=st.lists(st.tuples(st.integers(0, 47), st.integers(0, 7), st.integers(0, 15)),
                    min_size=1, max_size=300))
def test_generated_streams_match_golden(params: CacheParams,
                                        ops: list[tuple[int, int, int]]) -> None:
    """Each draw is (line, byte in line, op): a pool of 48 lines (more than any drawn level
    holds, so every level evicts), invalidating a line one time in sixteen."""
    model, golden = CacheModel(params), GoldenHierarchy(params)
    scale = params.line // 8
    run: list[int] = []
    for line, byte, op in ops:
        addr = line * params.line + byte * scale
        if op == 0:
            assert_same(model, golden, np.array(run, dtype=np.uint64))
            run = []
            assert model.invalidate(addr) == golden.invalidate(addr)
        else:
            run.append(addr)
    assert_same(model, golden, np.array(run, dtype=np.uint64))
    if params.inclusion == "inclusive":
        llc = set(model.contents(LLC))
        assert set(model.contents(L1)) <= llc
        assert set(model.contents(L2)) <= llc


# -- placement -------------------------------------------------------------------------------


def test_placement_parameters() -> None:
    assert CacheParams().placement == "ordered"
    with pytest.raises(ValueError, match=r"cache\.placement: expected one of"):
        CacheParams(placement="random")
    with pytest.raises(ValueError, match=r"cache\.placement_seed: expected 0 \.\. 2147483647"):
        CacheParams(placement_seed=-1)
    p = CacheParams.from_flat({"cache.placement": "scattered", "cache.placement_seed": 7})
    assert (p.placement, p.placement_seed) == ("scattered", 7)


@pytest.mark.parametrize("seed", [0, 1, 99])
def test_scattered_placement_permutes_frames_within_their_2m_block(seed: int) -> None:
    """Distinct lines keep distinct names, a frame stays in its 2 MiB block and its lines in
    it, so a 2 MiB page covers every cache colour of its block exactly as often; runs of
    consecutive frames no longer take consecutive colours."""
    golden = GoldenHierarchy(CacheParams(placement="scattered", placement_seed=seed))
    frames = range(3 * 512)
    names = [golden.name(f << 6) >> 6 for f in frames]
    assert len(set(names)) == len(names)
    assert all(n >> 9 == f >> 9 for f, n in zip(frames, names, strict=True))
    assert [golden.name((5 << 6) + k) - golden.name(5 << 6) for k in range(64)] == list(range(64))
    colours = [n % 128 for n in names]  # an 8 MiB 16-way LLC has 128 page colours
    assert all(colours[b:b + 512].count(c) == 4 for b in (0, 512, 1024) for c in range(128))
    runs = [len(set(colours[i:i + 128])) for i in range(0, len(colours), 128)]
    assert max(runs) < 110  # ordered: all 128 in every run; at random about 81


@pytest.mark.parametrize("seed", [0, 1, 2**31 - 1])
def test_uncoloured_placement_draws_each_frame_a_colour_of_its_own(seed: int) -> None:
    """Distinct lines keep distinct names and a frame's lines stay together in it, but every
    frame takes a colour of its own: a fully used 2 MiB block no longer covers every colour
    equally (as under ``scattered``); the colours of consecutive frames spread as
    independent draws do (binomial: variance about 16 for 2,048 frames over 128 colours)."""
    golden = GoldenHierarchy(CacheParams(placement="uncoloured", placement_seed=seed))
    frames = range(1 << 18, (1 << 18) + 4 * 512)
    names = [golden.name(f << 6) >> 6 for f in frames]
    assert len(set(names)) == len(names)
    assert [golden.name((5 << 6) + k) - golden.name(5 << 6) for k in range(64)] == list(range(64))
    counts = np.bincount([n % 128 for n in names], minlength=128)
    assert 8 < counts.var() < 28
    assert counts.min() < 14 and counts.max() > 20
    other = GoldenHierarchy(CacheParams(placement="uncoloured", placement_seed=seed ^ 1))
    assert sum(golden.name(f << 6) == other.name(f << 6) for f in frames) < 40  # about 4


@settings(derandomize=True, max_examples=60, deadline=None)
@given(params=hierarchies(), seed=st.integers(0, 2**31 - 1),
       placement=st.sampled_from(["scattered", "uncoloured"]),
       refs=st.lists(st.tuples(st.integers(0, 1100), st.integers(0, 511), st.booleans()),
                     min_size=1, max_size=300))
def test_placed_streams_match_golden(params: CacheParams, seed: int, placement: str,
                                     refs: list[tuple[int, int, bool]]) -> None:
    """References over 1,101 frames (two 2 MiB blocks and a bit); an invalidation names the
    line referenced last, so that it is held somewhere."""
    params = dataclasses.replace(params, placement=placement, placement_seed=seed)
    model, golden = CacheModel(params), GoldenHierarchy(params)
    run: list[int] = []
    last = 0
    for frame, word, invalidate in refs:
        addr = (frame << 12) + word * 8
        if invalidate:
            assert_same(model, golden, np.array(run, dtype=np.uint64))
            run = []
            assert model.invalidate(last) == golden.invalidate(last)
        else:
            run.append(addr)
            last = addr
    assert_same(model, golden, np.array(run, dtype=np.uint64))


@pytest.mark.parametrize("placement", ["scattered", "uncoloured"])
def test_recorded_stream_matches_golden_placed(placement: str) -> None:
    # an LLC of 32 KiB ways (8 page colours): where the frames fall matters to it
    colours = dataclasses.replace(SMALL, llc=CacheLevelParams(64 * KIB, 2, 40))
    p = dataclasses.replace(colours, placement=placement, placement_seed=3)
    addrs = np.tile(lackey_addresses(), 2)
    levels = assert_same(CacheModel(p), GoldenHierarchy(p), addrs)
    assert all((levels == lv).any() for lv in range(4))
    ordered = CacheModel(colours).access(addrs)
    assert not np.array_equal(levels, ordered)  # the placement changed which lines conflict
