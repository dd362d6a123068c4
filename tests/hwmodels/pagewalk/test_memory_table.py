"""The row-hashed memory image: it reads back like a dict, and the walker kernel probes it alike.

Golden model: a plain ``dict`` of address -> word (absent reads 0, writing 0 deletes). The
driver applies random interleaved writes, overwrites, deletes and range clears to both, over
address pools chosen to collide (rows sharing home slots, probe runs that wrap past the
table's end), to share rows and to grow the image; the scoreboard compares every read,
``len``, ``arrays()``, the compiled probes and the image's bookkeeping (one live row per row
of words present, every row handed out either live or on the free list).
"""

from __future__ import annotations

import copy

import numba
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodels.pagewalk import PageWalkModel, WalkerParams, WalkRequest
from hwmodels.pagewalk.model import _read
from hwmodels.pagewalk.tables import (
    HASH_MUL,
    M_FREE,
    M_HIGH,
    M_LIVE,
    M_SHIFT,
    ROW_SHIFT,
    ROW_WORDS,
    FrameAllocator,
    Memory,
    PageTable,
    mem_get,
    mem_put,
    mem_room,
)

M64 = (1 << 64) - 1


BITS = (len(Memory().table()[0]) // 2).bit_length() - 1
"""log2 of a new image's slots."""


def home(addr: int, bits: int) -> int:
    """Home slot of ``addr``'s row in a table of ``2**bits`` slots (the documented hash)."""
    return ((addr >> ROW_SHIFT) * HASH_MUL & M64) >> (64 - bits)


def _colliding(bits: int, slots: tuple[int, ...], n: int, per_row: int = 1) -> list[int]:
    """Small aligned addresses in ``n`` rows whose home slots (in ``2**bits`` slots) are in
    ``slots``: ``per_row`` words of each row, spread over it."""
    out, addr = [], 0
    step = 8 * (ROW_WORDS // per_row)
    while len(out) < n * per_row:
        if home(addr, bits) in slots:
            out.extend(addr + step * k for k in range(per_row))
        addr += 8 * ROW_WORDS
    return out


# Homes at the end of a new image's slots (probe runs wrap to slot 0) and at slot 0.
WRAP = _colliding(BITS, (2**BITS - 2, 2**BITS - 1, 0), 12, per_row=2)
POOL = st.one_of(
    st.sampled_from(WRAP),
    st.integers(0, 255).map(lambda k: 0x10000 + 8 * k),  # one table page: dense keys
    st.integers(0, (1 << 49) - 1).map(lambda k: 8 * k),  # anywhere below 2**52
)
WORD = st.one_of(st.just(0), st.integers(1, 7), st.integers(0, M64),
                 st.integers(1 << 63, M64))  # NX set: a negative int64 bit pattern
OP = st.one_of(
    st.tuples(st.just("write"), POOL, WORD),
    st.tuples(st.just("clear"), POOL, st.integers(0, 64).map(lambda k: 8 * k)),
    st.tuples(st.just("clear"), st.sampled_from([0, 0x10000, 0x10400]), st.just(0x400)),
)


def check(mem: Memory, golden: dict[int, int], probe: list[int]) -> None:
    """Scoreboard: ``mem`` holds exactly ``golden``, through every reader."""
    assert len(mem) == len(golden)
    addrs, words = mem.arrays()
    assert addrs.dtype == np.uint64 and words.dtype == np.int64
    assert addrs.tolist() == sorted(golden)
    assert words.view(np.uint64).tolist() == [golden[a] for a in sorted(golden)]
    assert dict(mem.words) == golden
    slots, cells, meta = mem.table()
    live = int(meta[M_LIVE])
    assert live == mem.rows() == len({a >> ROW_SHIFT for a in golden})
    assert 2 * live <= len(slots) // 2 == 1 << (64 - int(meta[M_SHIFT]))
    assert int((slots[0::2] >= 0).sum()) == live
    assert live + int(meta[M_FREE]) == int(meta[M_HIGH]) <= len(cells) // ROW_WORDS
    for a in probe:
        want = golden.get(a, 0)
        assert mem.read(a) == want
        # the compiled probes of the same image: the word as an int64 bit pattern
        assert int(mem_get(slots, cells, meta, np.int64(a))) & M64 == want
        assert int(_read(slots, cells, meta, np.int64(a))) & M64 == want


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(OP, max_size=300), data=st.data())
def test_memory_reads_back_like_a_dict(ops: list[tuple[str, int, int]],
                                       data: st.DataObject) -> None:
    mem, golden = Memory(), {}
    for k, (kind, addr, arg) in enumerate(ops):
        if kind == "clear":
            mem.clear(addr, arg)
            for a in [a for a in golden if addr <= a < addr + arg]:
                del golden[a]
        elif arg:
            mem.write(addr, arg)
            golden[addr] = arg
        else:
            mem.write(addr, 0)
            golden.pop(addr, None)
        if k % 50 == 49:  # checkpoints between growths and deletes
            check(mem, golden, list(golden)[-20:] + [addr, addr + 8])
    absent = data.draw(st.lists(POOL, max_size=20))
    check(mem, golden, [a for _, a, _ in ops] + WRAP + absent)


# Seven rows homing in the last and first slots of a new image, which never grows with at
# most seven rows live: every probe run crosses the end, so freeing a row shifts keys across
# it; four words a row, so rows empty and fill again.
CROWD = _colliding(BITS, (2**BITS - 4, 2**BITS - 3, 2**BITS - 2, 2**BITS - 1, 0, 1), 7,
                   per_row=4)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(CROWD), st.sampled_from([0, 0, 1, 1 << 63])),
                    max_size=200))
def test_deletes_across_the_table_end(ops: list[tuple[int, int]]) -> None:
    mem, golden = Memory(), {}
    for addr, word in ops:
        mem.write(addr, word)
        if word:
            golden[addr] = word
        else:
            golden.pop(addr, None)
        assert mem.read(addr) == word
    assert len(mem.table()[0]) // 2 == 2**BITS
    check(mem, golden, CROWD)


def test_growth_then_deleting_everything_leaves_an_empty_table() -> None:
    mem, golden = Memory(), {}
    rng = np.random.default_rng(5)
    addrs = (rng.choice(1 << 30, size=5000, replace=False) * 8).tolist() + WRAP
    for a in addrs:
        mem.write(a, a | 1)
        golden[a] = a | 1
    check(mem, golden, addrs[:200] + WRAP)
    for a in rng.permutation(addrs).tolist():
        mem.write(a, 0)
        del golden[a]
        if len(golden) % 997 == 0:
            check(mem, golden, addrs[:300] + WRAP)
    assert len(mem) == 0 and mem.rows() == 0 and (mem.table()[0][0::2] == -1).all()


def test_invalid_writes_are_rejected() -> None:
    mem = Memory()
    for addr, word in ((0x1004, 1), (-8, 1), (1 << 63, 1), (0x1000, -1), (0x1000, 1 << 64)):
        try:
            mem.write(addr, word)
        except ValueError:
            continue
        raise AssertionError(f"write({addr:#x}, {word:#x}) was accepted")
    for addr, size in ((0x1004, 8), (0x1000, 4), (-8, 8), ((1 << 63) - 8, 16)):
        try:
            mem.clear(addr, size)
        except ValueError:
            continue
        raise AssertionError(f"clear({addr:#x}, {size:#x}) was accepted")
    assert len(mem) == 0 and mem.read(0x1004) == 0


def test_copies_are_independent() -> None:
    mem = Memory()
    for a in range(0, 8 * 100, 8):
        mem.write(a, a + 1)
    dup = copy.deepcopy(mem)
    mem.write(0, 0)
    dup.write(8, 77)
    assert (mem.read(0), mem.read(8)) == (0, 9)
    assert (dup.read(0), dup.read(8), len(dup)) == (1, 77, 100)


def test_walker_reads_the_live_image_through_growth() -> None:
    """load_memory keeps a reference: pages mapped afterwards (the table regrowing several
    times) are walked without reloading."""
    mem = Memory()
    pt = PageTable.in_memory(mem, 4, FrameAllocator(0x100000))
    walker = PageWalkModel(WalkerParams(), mem)
    first = mem.table()[0]
    for k in range(2000):
        pt.map(0x400000 + (k << 21) + ((k % 512) << 12), 0x80000000 + (k << 12))
    assert mem.table()[0] is not first  # regrown
    for k in (0, 1, 777, 1999):
        ev = walker.walk(WalkRequest.native(0x400000 + (k << 21) + ((k % 512) << 12), pt.root))
        assert (ev.fault, ev.frame) == (0, (0x80000000 >> 12) + k)
    pt.unmap(0x400000)
    assert walker.walk(WalkRequest.native(0x400000, pt.root)).fault != 0


@numba.njit(cache=False)
def _put_all(slots, cells, meta, lo, addrs, words):  # pragma: no cover (compiled)
    """Store ``addrs[lo:]`` as a compiled writer does; (where it stopped, words added)."""
    added = 0
    for i in range(lo, len(addrs)):
        if not mem_room(slots, cells, meta, 1):
            return i, added
        added += mem_put(slots, cells, meta, addrs[i], words[i])
    return len(addrs), added


@settings(max_examples=100, deadline=None)
@given(ops=st.lists(st.tuples(POOL, st.integers(1, M64)), max_size=200),
       clears=st.lists(POOL, max_size=20))
def test_compiled_writers_grow_the_image_between_calls(ops: list[tuple[int, int]],
                                                       clears: list[int]) -> None:
    """A compiled writer stops when the image is full (mem_room), the caller grows it
    (reserve) and resumes: the image then holds what writes one by one would."""
    mem, golden = Memory(), {}
    for a in clears:  # rows freed before the writes: reused first
        mem.write(a, 1)
        mem.write(a, 0)
    addrs = np.array([a for a, _ in ops], dtype=np.int64)
    words = np.array([w for _, w in ops], dtype=np.uint64).view(np.int64)
    lo = 0
    while True:
        lo, added = _put_all(*mem.table(), lo, addrs, words)
        mem.added(added)
        if lo == len(addrs):
            break
        mem.reserve(1)
    for a, w in ops:
        golden[a] = w
    check(mem, golden, list(golden) + WRAP)


def test_a_dense_image_costs_its_words_not_a_slot_each() -> None:
    """A fully written run of table pages: 8 bytes a word in the rows, and the slots a small
    share on top (one per 16 words, at most half full)."""
    mem = Memory()
    n = 512 * 64  # 64 table pages
    for a in range(0x200000, 0x200000 + 8 * n, 8):
        mem.write(a, a | 1)
    slots, cells, meta = mem.table()
    assert mem.rows() == n // ROW_WORDS and len(mem) == n
    assert len(cells) <= 2 * n
    assert slots.nbytes <= 4 * 16 * n // ROW_WORDS
    mem.clear(0x200000, 8 * n)
    assert len(mem) == 0 and mem.rows() == 0 and int(meta[M_FREE]) == n // ROW_WORDS
