"""The pre-copy engine (issue 16): rounds against closed forms, each of Xen's stop rules, and
PML's exits against the PML unit's twin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.migration.precopy import (
    NONE,
    PML,
    RECORD_BYTES,
    SCAN,
    WRITE_PROTECT,
    precopy,
)
from hwmodels.pml import PMLBatch, PMLModel, PMLParams, PMLRequest

ONE_PAGE_PER_US = RECORD_BYTES * 8 * 1e6
"""A link that sends one page record per microsecond."""


def _run(wpos, wpage, period, n_pages, memory, logging=SCAN, **kw):
    args = dict(cycles_per_access=1.0, clock_hz=1e9, link_bps=ONE_PAGE_PER_US,
                logging=logging, trap_cycles=0.0, pml_entries=512, full_cycles=0.0,
                round_cycles=0.0)
    args.update(kw)
    return precopy(np.asarray(wpos), np.asarray(wpage), period, n_pages, memory, **args)


def test_rounds_shrink_geometrically_with_the_dirty_to_link_ratio() -> None:
    """A guest dirtying a fresh page every ``gap`` accesses (1 ns each) against a link
    sending one page per us: each round dirties 1000/gap pages per us of the round before,
    so the rounds shrink by that ratio until one sends fewer than 50 pages; the
    stop-and-copy then sends what that round dirtied (Xen decides before reading the log)."""
    gap, pages = 4000, 100_000  # ratio 1/4: 100,000 -> 25,000 -> 6,250 -> ...
    period = gap * pages
    r = _run(np.arange(pages) * gap, np.arange(pages), period, pages, pages)
    expected, start = [pages], 0
    while True:  # the writes at multiples of gap in the round's [start, end) accesses
        end = start + expected[-1] * 1000
        small = expected[-1] < 50  # the round just sent is the last live one
        expected.append(-(-end // gap) - -(-start // gap))
        start = end
        if small:
            break
    assert expected == [100_000, 25_000, 6_250, 1_563, 391, 97, 25, 6]
    assert r.sent.tolist() == expected
    assert r.dirtied.tolist() == expected[1:]
    assert r.downtime_s == pytest.approx(expected[-1] * 1e-6)
    assert r.total_s == pytest.approx(sum(expected) * 1e-6)
    assert r.bytes_sent == sum(expected) * RECORD_BYTES


def test_a_hot_working_set_runs_the_thirty_rounds() -> None:
    """1,000 pages rewritten over and over: every round dirties all of them, never fewer
    than 50 and never more than the round before: Xen's 30-round bound stops it."""
    hot = 1000
    r = _run(np.arange(hot), np.arange(hot), hot, hot, 100_000)
    assert r.rounds == 30 and r.sent.tolist() == [100_000] + [hot] * 29


def test_more_than_three_times_memory_stops_it() -> None:
    """A guest dirtying all its memory faster than the link sends it."""
    pages = 1000
    r = _run(np.arange(pages), np.arange(pages), pages, pages, pages)
    assert r.sent.tolist() == [pages] * 5  # 4 live rounds: 4,000 > 3 x 1,000 sent
    assert r.rounds == 5


def test_a_round_larger_than_the_one_before_stops_it() -> None:
    """A burst: round 2 sends 55 pages, round 3 the 145 dirtied during round 2 -- more than
    before, so round 4 is the stop-and-copy of the 60 dirtied during round 3."""
    wpos = np.concatenate([np.arange(55) * 1000, 200_000 + np.arange(145) * 100,
                           260_000 + np.arange(60) * 1000])
    wpage = np.concatenate([np.arange(55), 55 + np.arange(145), np.arange(60)])
    r = _run(wpos, wpage, 10**6, 200, 200)
    assert r.sent.tolist() == [200, 55, 145, 60]


def test_no_logging_is_stop_and_copy_of_everything_written() -> None:
    r = _run(np.arange(10) * 7, np.arange(10), 100, 10, 64, logging=NONE)
    assert r.rounds == 2 and r.sent.tolist() == [64, 10] and r.traps == 0


def test_write_protection_charges_one_trap_per_page_per_round() -> None:
    gap, pages = 4000, 20_000
    r = _run(np.arange(pages) * gap, np.arange(pages), gap * pages, pages, pages,
             logging=WRITE_PROTECT, trap_cycles=2565.0, round_cycles=1000.0)
    live = r.rounds - 1
    assert r.traps == int(r.dirtied.sum())
    assert r.extra_cycles == pytest.approx(r.traps * 2565.0 + live * 1000.0)
    assert r.guest_slowdown > 1.0


def _twin_exits(dirtied: np.ndarray, entries: int) -> int:
    """Log-full exits of the PML unit's twin when each live round's first writes (distinct
    pages, flags clear) reach it after a drain, the hypervisor draining at every exit."""
    model = PMLModel(PMLParams(entries=entries))
    model.step(PMLRequest.enable())
    exits = 0
    page = 0
    for n in dirtied.tolist():
        model.step(PMLRequest.set_index(entries - 1))
        for _ in range(n):
            ev = model.step(PMLRequest.access(page << 12))
            if ev.full:
                exits += 1
                model.step(PMLRequest.set_index(entries - 1))
                ev = model.step(PMLRequest.access(page << 12))
            assert ev.log
            page += 1
    return exits


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), entries=st.sampled_from([4, 16, 64]),
       gap=st.integers(200, 3000))
def test_pml_exits_are_the_pml_units(seed: int, entries: int, gap: int) -> None:
    rng = np.random.default_rng(seed)
    n, pages = 3000, 800
    wpage = rng.integers(0, pages, n)
    r = _run(np.arange(n) * gap, wpage, n * gap, pages, 2000, logging=PML,
             pml_entries=entries, full_cycles=5000.0)
    assert r.traps == _twin_exits(r.dirtied, entries)
    assert r.extra_cycles == pytest.approx(r.traps * 5000.0)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), trap=st.floats(0.0, 1e5))
def test_a_guest_slowed_by_traps_dirties_no_more_in_the_first_round(seed: int, trap: float
                                                                    ) -> None:
    """Round 1 lasts the same (it sends all memory) whatever the logging: a guest that
    pays for its writes gets through fewer of them, so it dirties a subset."""
    rng = np.random.default_rng(seed)
    wpage = rng.integers(0, 500, 2000)
    wpos = np.sort(rng.choice(50_000, 2000, replace=False))
    free = _run(wpos, wpage, 50_000, 500, 1000, logging=SCAN)
    paying = _run(wpos, wpage, 50_000, 500, 1000, logging=WRITE_PROTECT, trap_cycles=trap)
    assert paying.dirtied[0] <= free.dirtied[0]
    assert paying.sent[0] == free.sent[0] == 1000


@pytest.mark.parametrize(("kw", "message"), [
    ({"wpos": np.array([5, 3])}, "wpos: expected ascending"),
    ({"wpage": np.array([0, 9])}, "wpage: expected page numbers below 4"),
    ({"memory": 2}, "memory_pages: expected at least the 4 pages written"),
    ({"link_bps": 0.0}, "link_bps: expected a positive number"),
])
def test_bad_inputs_name_what_is_wrong(kw: dict, message: str) -> None:
    args = {"wpos": np.array([1, 2]), "wpage": np.array([0, 1]), "memory": 8}
    link = kw.pop("link_bps", ONE_PAGE_PER_US)
    args.update(kw)
    with pytest.raises(ValueError, match=message):
        _run(args["wpos"], args["wpage"], 10, 4, args["memory"], link_bps=link)


def test_the_pml_twin_helper_counts_what_the_sdm_says() -> None:
    assert _twin_exits(np.array([512, 513, 1025]), 512) == 0 + 1 + 2
    _ = PMLBatch  # the helper drives the twin one operation at a time


def test_start_up_writes_count_once() -> None:
    """A guest that populates 1,000 pages as it starts and then rewrites 10 of them: with
    the start-up as the first period only, round 2 sends the 1,000 pages round 1 saw dirtied,
    round 3 the 10 rewritten during it -- fewer than 50 sent: the stop-and-copy sends the 10
    rewritten during round 3; repeated every period, the start-up dirties all 1,000 in every
    round and the migration never converges."""
    hot_pos, hot_page = np.arange(10) * 100, np.arange(10)
    start = (np.arange(1000), np.arange(1000))
    once = _run(hot_pos, hot_page, 1000, 1000, 100_000, first=start)
    assert once.sent.tolist() == [100_000, 1000, 10, 10]
    always = _run(*start, 1000, 1000, 100_000)
    assert always.rounds == 30 and always.sent[-1] == 1000


def test_a_device_ring_is_dirtied_as_fast_as_it_is_written() -> None:
    """A NIC writing 0.101 pages/us into a ring of 50 pages: round 1 (1,000 us) fills the whole
    ring; round 2 (the 50 ring pages, 50 us) dirties 5 of them; round 3 sends those 5 --
    fewer than 50: stop -- and dirties none in its 5 us."""
    r = _run(np.zeros(0), np.zeros(0), 1000, 1, 1000, dev_pages=50, dev_rate=1.01e5)
    assert r.sent.tolist() == [1000, 50, 5, 0] and r.device_pages == 55


def test_a_pass_through_device_without_dirty_tracking_dirties_everything() -> None:
    """Every page pinned for the device is reported dirty each round: rounds of all memory
    until three times memory has been sent, then a stop-and-copy of all of it."""
    r = _run(np.arange(10), np.arange(10), 1000, 10, 1000, dev_all=True)
    assert r.sent.tolist() == [1000] * 5
    assert r.downtime_s == pytest.approx(1000e-6)


def test_xen_skips_a_page_dirtied_again_before_its_batch() -> None:
    """3,000 pages at one per microsecond, in batches of 1,024, the log peeked before each:
    a write at 0.5 ms to page 2,500 (batch 3, peeked at 2.048 ms) makes round 1 skip it; a
    write at the same time to page 100 (batch 1, peeked at 0) comes after page 100 was sent.
    Both go in round 2 (fewer than 50: the last live one; nothing is written after the
    start-up, so the stop-and-copy sends nothing). Without skipping, round 1 sends all
    3,000."""
    first = (np.array([500_000, 500_001]), np.array([100, 2500]))
    plain = _run(np.zeros(0), np.zeros(0), 1_000_000, 3000, 3000, first=first)
    xen = _run(np.zeros(0), np.zeros(0), 1_000_000, 3000, 3000, first=first, skip=True)
    assert plain.sent.tolist() == [3000, 2, 0] and plain.skipped == 0
    assert xen.sent.tolist() == [2999, 2, 0] and xen.skipped == 1
    assert xen.total_s == pytest.approx(plain.total_s - 1e-6)


def test_xen_skipping_defers_a_hot_set_to_the_stop_and_copy() -> None:
    """2,000 pages written once as the guest starts (in its first 2 us), ten hot pages
    (numbers 2,000-2,009) written every microsecond, 990 pages never written; one page per
    microsecond. Without skipping: 3,000, then the 2,010 dirtied, then the 10 hot ones (fewer
    than 50: the last live round), then the 9 of them rewritten in its 10 us. With it, round
    1 skips what its second batch (peeked at 1.024 ms) finds dirtied again -- 976 start-up
    pages and the hot ten -- and round 2 skips the hot ten again: 2,014, 2,000, 10, 10."""
    hot = (np.arange(0, 1_000_000, 1000), 2000 + np.arange(1000) % 10)
    start = (np.arange(2000), np.arange(2000))
    pos = np.concatenate([start[0], hot[0][2:]])
    page = np.concatenate([start[1], hot[1][2:]])
    order = np.argsort(pos, kind="stable")
    first = (pos[order], page[order])
    plain = _run(*hot, 1_000_000, 2010, 3000, first=first)
    xen = _run(*hot, 1_000_000, 2010, 3000, first=first, skip=True)
    assert plain.sent.tolist() == [3000, 2010, 10, 9] and plain.skipped == 0
    assert xen.sent.tolist() == [2014, 2000, 10, 10] and xen.skipped == 986 + 10
    assert xen.pages_sent < plain.pages_sent


def test_skipping_with_no_rewrites_changes_nothing() -> None:
    """Writes that never catch up with the sender (each page written after its batch was
    peeked): the same rounds with and without skipping."""
    pos, page = np.arange(0, 4_000_000, 2000), np.arange(2000)
    plain = _run(pos, page, 4_000_000, 2000, 2000)
    xen = _run(pos, page, 4_000_000, 2000, 2000, skip=True)
    assert xen.skipped == 0
    assert xen.sent.tolist() == plain.sent.tolist()
    assert xen.total_s == pytest.approx(plain.total_s)


def test_the_stop_rule_counts_a_rounds_skipped_pages_as_xen_does() -> None:
    """Xen's test is ``sent_this_iter + skip_this_iter < 50`` (here ``stop_pages``): round 1
    of the skipping migration above sends 2,999 pages and skips 1, so with a bound of 3,000
    it goes on (2,999 + 1 is not below it) and with 3,001 it stops, its stop-and-copy
    sending the 2 pages it dirtied."""
    first = (np.array([500_000, 500_001]), np.array([100, 2500]))
    go_on = _run(np.zeros(0), np.zeros(0), 1_000_000, 3000, 3000, first=first, skip=True,
                 stop_pages=3000)
    stop = _run(np.zeros(0), np.zeros(0), 1_000_000, 3000, 3000, first=first, skip=True,
                stop_pages=3001)
    assert go_on.sent.tolist() == [2999, 2, 0] and go_on.skipped == 1
    assert stop.sent.tolist() == [2999, 2] and stop.skipped == 1


def test_splitting_on_fault_replaces_each_pages_first_logging_by_a_split_fault() -> None:
    """On fault: a page's first write in the migration is a split fault (no trap, no log
    entry of its own); its first writes in later rounds are logged as without huge pages."""
    gap, pages, memory = 4000, 2000, 20_000  # the first round spans 2.5 periods
    args = (np.arange(pages) * gap, np.arange(pages), gap * pages, pages, memory)
    kw = dict(logging=WRITE_PROTECT, trap_cycles=2565.0, round_cycles=1000.0)
    plain = _run(*args, **kw)
    # a split fault priced as the trap it replaces: the same timing, the same rounds
    same = _run(*args, split_lazy=True, split_fault_cycles=2565.0, **kw)
    assert same.split_faults == pages  # every page written, each split once
    assert same.traps == plain.traps - pages > 0
    assert same.dirtied.tolist() == plain.dirtied.tolist()
    assert same.extra_cycles == plain.extra_cycles
    dear = _run(*args, split_lazy=True, split_fault_cycles=5000.0, **kw)
    assert dear.split_faults == pages
    assert dear.extra_cycles == pytest.approx(dear.traps * 2565.0 + pages * 5000.0
                                              + (dear.rounds - 1) * 1000.0)
    # PML: the split pages take no log entries (the first round's 2,000 would fill 31 logs)
    pml = _run(*args, logging=PML, pml_entries=64, full_cycles=1.0)
    pml_lazy = _run(*args, logging=PML, pml_entries=64, full_cycles=1.0, split_lazy=True,
                    split_fault_cycles=1.0)
    assert pml_lazy.split_faults == pages
    assert pml_lazy.traps == pml.traps - (pages - 1) // 64


def test_an_eager_split_delays_the_first_round_with_the_guest_running() -> None:
    """Eagerly: the split's seconds come before the first round, the guest's writes during
    them logged in it; with no writes the migration is longer by exactly the split."""
    quiet = _run(np.zeros(0, np.int64), np.zeros(0, np.int64), 1000, 1, 500,
                 logging=WRITE_PROTECT)
    split = _run(np.zeros(0, np.int64), np.zeros(0, np.int64), 1000, 1, 500,
                 logging=WRITE_PROTECT, split_s=0.25)
    assert split.total_s == pytest.approx(quiet.total_s + 0.25)
    assert split.downtime_s == quiet.downtime_s
    assert split.split_faults == 0 and split.sent.tolist() == quiet.sent.tolist()
    # a guest writing during the split dirties its pages in the first round
    writes = np.arange(100) * 1000
    busy = _run(writes, np.arange(100), 100_000, 100, 500, logging=WRITE_PROTECT,
                split_s=0.25)
    assert busy.dirtied[0] == 100 and busy.traps >= 100


@pytest.mark.parametrize(("kw", "message"), [
    (dict(split_s=-1.0), "split_s"), (dict(split_fault_cycles=float("nan")),
                                      "split_fault_cycles"),
    (dict(split_lazy=True, logging=NONE), "split_lazy")])
def test_bad_split_inputs_name_what_is_wrong(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _run([0], [0], 10, 1, 1, **kw)
