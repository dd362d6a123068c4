"""The standalone page-walk cache (``codesign_pwc``): one suite at every level (behavioural twin,
RTL on FastSimulation and CompiledSimulation), differential runs (hypothesis mixes and the gzip
trace), Icarus co-simulation cycle by cycle, cost figures, parameters.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwmodels import rtl
from hwmodels.pagewalk import PWCParams, WalkerParams
from hwmodels.pagewalk.cache_rtl import PWC_MODULE, PWC_PORTS, build_pwc, pwc_cost, pwc_verilog
from hwmodels.pagewalk.caches import CacheOp, PWCEvent, PWCModel, PWCOp
from hwmodels.pagewalk.params import NTLBBlockParams, PWCBlockParams
from hwmodels.pagewalk.rtl import walker_cost
from tests.hwmodels.pagewalk.cache_harness import (
    LEVELS,
    PWC_CONFIGS,
    assert_same_events,
    counts,
    design,
    make_block,
    pwc_ops,
    pwc_trace_ops,
)
from tests.hwmodels.pagewalk.harness import uncached
from tests.hwmodels.pagewalk.test_differential import CONFIGS as WALKER_CONFIGS

GUEST, NESTED = PWC_CONFIGS["guest4"], PWC_CONFIGS["nested3"]  # levels 2..4: 3, 2, 1 entries
A = 0x7F12_3456_7000 % (1 << 48)
FLUSH_ALL, FLUSH_VM, FLUSH_ASID = CacheOp.FLUSH_ALL, CacheOp.FLUSH_VM, CacheOp.FLUSH_ASID


def _other(addr: int, level: int, k: int) -> int:
    """An address whose level-``level`` key (and lower ones) differ from ``addr``'s by ``k``,
    with the same keys above."""
    return addr ^ (k << (12 + 9 * (level - 1)))


@pytest.fixture(params=LEVELS)
def level(request: pytest.FixtureRequest) -> str:
    return request.param


def test_fill_then_lookup_hits_with_the_filled_value(level: str) -> None:
    pwc = make_block("pwc", GUEST, level)
    ev = pwc.run([PWCOp.lookup(A, vm=1), PWCOp.fill(A, 2, base=0x123, perm=5, vm=1),
                  PWCOp.lookup(A + 0xABC, vm=1), PWCOp.lookup(A, vm=2),
                  PWCOp.lookup(A, vm=1, asid=1), PWCOp.lookup(_other(A, 2, 1), vm=1)])
    assert ev[0] == PWCEvent() and ev[1] == PWCEvent()  # a fill into a free entry evicts none
    assert ev[2] == PWCEvent(hit=1, level=2, way=0, base=0x123, perm=5)
    assert [e.hit for e in ev[3:]] == [0, 0, 0]  # another VM, another ASID, another PT


def test_the_lowest_level_holding_the_key_wins(level: str) -> None:
    pwc = make_block("pwc", GUEST, level)
    ev = pwc.run([PWCOp.fill(A, 4, 0x40), PWCOp.fill(A, 3, 0x30), PWCOp.fill(A, 2, 0x20),
                  PWCOp.lookup(A), PWCOp.lookup(_other(A, 3, 1)), PWCOp.lookup(_other(A, 2, 1))])
    assert [(e.level, e.base) for e in ev[3:]] == [(2, 0x20), (4, 0x40), (3, 0x30)]


def test_fills_take_free_entries_then_the_least_recently_used(level: str) -> None:
    pwc = make_block("pwc", GUEST, level)
    keys = [_other(A, 2, k) for k in range(4)]  # 4 level-2 keys for a 3-entry level
    ev = pwc.run([*(PWCOp.fill(k, 2, 0x10 + i) for i, k in enumerate(keys[:3])),
                  PWCOp.lookup(keys[0]), PWCOp.fill(keys[3], 2, 0x13),
                  *(PWCOp.lookup(k) for k in keys)])
    assert [(e.way, e.evict) for e in ev[:3]] == [(0, 0), (1, 0), (2, 0)]
    assert (ev[3].way, ev[4].way, ev[4].evict) == (0, 1, 1)  # key 1 was the LRU entry
    assert [(e.hit, e.way) for e in ev[5:]] == [(1, 0), (0, 0), (1, 2), (1, 1)]


def test_guest_flushes_by_vm_and_address_space(level: str) -> None:
    pwc = make_block("pwc", GUEST, level)
    tags = [(1, 0), (1, 1), (2, 0)]
    fills = [PWCOp.fill(_other(A, 2, i), 2, i, vm=v, asid=a) for i, (v, a) in enumerate(tags)]
    fills.append(PWCOp.fill(A, 4, 9, vm=1, asid=1))
    ev = pwc.run([*fills, PWCOp.flush(FLUSH_ASID, vm=1, asid=1),
                  PWCOp.flush(FLUSH_ASID, vm=1, asid=1), PWCOp.lookup(_other(A, 2, 0), vm=1),
                  PWCOp.flush(FLUSH_VM, vm=1), PWCOp.lookup(_other(A, 2, 2), vm=2),
                  PWCOp.flush(FLUSH_ALL)])
    assert [e.inv for e in ev[4:]] == [2, 0, 0, 1, 0, 1]
    assert ev[6].hit and ev[8].hit


def test_nested_entries_have_no_address_space(level: str) -> None:
    pwc = make_block("pwc", NESTED, level)
    a = A % (1 << NESTED.addr_bits)
    ev = pwc.run([PWCOp.fill(a, 2, 7, vm=1), PWCOp.lookup(a, vm=1),
                  PWCOp.flush(FLUSH_ASID, vm=1), PWCOp.lookup(a, vm=1),
                  PWCOp.fill(a, 3, 5, vm=1), PWCOp.flush(FLUSH_VM, vm=1), PWCOp.lookup(a, vm=1)])
    assert (ev[1].hit, ev[2].inv, ev[3].hit) == (1, 0, 1)
    # level 3 has no entries in this block: the fill writes nothing
    assert (ev[4], ev[5].inv, ev[6].hit) == (PWCEvent(), 1, 0)


DIFF = settings(derandomize=True, deadline=None, max_examples=25,
                suppress_health_check=[HealthCheck.too_slow])


def _differential(name: str, backend: str, seed: int, n: int) -> None:
    p = PWC_CONFIGS[name]
    ops = pwc_ops(p, n, seed)
    assert_same_events(ops, PWCModel(p).run(ops), make_block("pwc", p, backend).run(ops),
                       f"{name}/{backend} seed={seed}")


@pytest.mark.parametrize("name", list(PWC_CONFIGS))
def test_random_operations_compiled(name: str) -> None:
    @DIFF
    @given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 400))
    def check(seed: int, n: int) -> None:
        _differential(name, "compiled", seed, n)

    check()


@pytest.mark.parametrize("name", ["guest4", "nested3"])
def test_random_operations_fast(name: str) -> None:
    @settings(DIFF, max_examples=8)
    @given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 300))
    def check(seed: int, n: int) -> None:
        _differential(name, "fast", seed, n)

    check()


@pytest.mark.parametrize("backend", ["fast", "compiled"])
@pytest.mark.parametrize("name", ["guest4", "nested2", "default"])
def test_trace_sequence(name: str, backend: str) -> None:
    p = PWC_CONFIGS[name]
    ops = pwc_trace_ops(p)
    want = PWCModel(p).run(ops)
    assert counts(want, "hit") > 1000 and counts(want, "inv") + counts(want, "evict") > 0
    assert_same_events(ops, want, make_block("pwc", p, backend).run(ops), f"trace/{backend}")


def test_scoreboard_catches_one_entry_more() -> None:
    p = PWC_CONFIGS["guest4"]
    other = PWCBlockParams(PWCParams((4, 2, 1, 1)), p.dim, p.levels, p.addr_bits, p.pa_bits,
                           p.vm_bits, p.asid_bits)
    ops = pwc_ops(p, 300, 5)
    with pytest.raises(AssertionError, match="events differ at operation"):
        assert_same_events(ops, PWCModel(other).run(ops),
                           make_block("pwc", p, "compiled").run(ops), "x")


def test_a_disabled_cache_never_hits_nor_holds_registers(level: str) -> None:
    p = PWCBlockParams(PWCParams(0), levels=3, addr_bits=40, pa_bits=32, vm_bits=1,
                       asid_bits=1)
    ops = pwc_ops(p, 80, 2)
    assert set(make_block("pwc", p, level).run(ops)) == {PWCEvent()}
    assert pwc_cost(p).register_bits == 0


@pytest.mark.skipif(not rtl.icarus_available(), reason="Icarus Verilog not installed")
@pytest.mark.parametrize("name", ["guest4", "nested3", "default"])
def test_icarus_matches_pyrtl_cycle_by_cycle(name: str, tmp_path) -> None:
    p = PWC_CONFIGS[name]
    sim = make_block("pwc", p, "compiled").sim
    ops = pwc_ops(p, 700, 3)
    # A reset in the middle checks the Verilog's reset path, not only its initial values.
    stim = sim.stimulus(ops[:350], reset=True) + sim.stimulus(ops[350:], reset=True)
    outputs = list(PWC_PORTS.values())
    want = rtl.run_stimulus(sim.sim, stim, outputs)
    got = rtl.run_icarus(sim.design.block, stim, outputs, PWC_MODULE, tmp_path)
    for cycle in range(len(stim)):
        row = {k: got[k][cycle] for k in outputs}
        assert row == {k: want[k][cycle] for k in outputs}, f"cycle {cycle}: {stim[cycle]}"
    assert min(sum(1 for v in want[k] if v) for k in ("ev_hit", "ev_evict", "ev_inv")) > 0


def test_ports_and_module_name() -> None:
    g = design("pwc", GUEST)
    assert g.inputs == {"reset": 1, "op": 3, "addr": 48, "vm": 2, "asid": 1, "level": 3,
                        "base": 24, "perm": 3}
    assert g.outputs == {"ev_hit": 1, "ev_level": 3, "ev_way": 2, "ev_base": 24, "ev_perm": 3,
                         "ev_evict": 1, "ev_inv": 3}
    assert "asid" not in design("pwc", NESTED).inputs
    for p in (GUEST, NESTED):
        assert pwc_verilog(p).count(f"module {PWC_MODULE}(") == 1


def test_cost_figures_of_the_default_caches() -> None:
    costs = {d: pwc_cost(PWCBlockParams.of_walker(WalkerParams(), d)) for d in ("guest", "nested")}
    for c in costs.values():
        assert c.nets > 0 and c.fmax_mhz > 0 and c.area_estimate_mm2 > 0
    # 46 entries each; a guest entry holds 12 ASID bits more (and a longer VA tag)
    assert costs["guest"].register_bits > costs["nested"].register_bits
    assert pwc_cost(GUEST).register_bits < costs["nested"].register_bits


def test_the_walker_holds_exactly_these_caches() -> None:
    # The walker's cache registers are those of its two PWC blocks and its nested TLB.
    from hwmodels.pagewalk.cache_rtl import ntlb_cost

    p = WALKER_CONFIGS["4x4"]
    blocks = (pwc_cost(PWCBlockParams.of_walker(p, "guest")).register_bits
              + pwc_cost(PWCBlockParams.of_walker(p, "nested")).register_bits
              + ntlb_cost(NTLBBlockParams.of_walker(p)).register_bits)
    assert walker_cost(p).register_bits - walker_cost(uncached(p)).register_bits == blocks


def test_from_flat_takes_the_walker_keys() -> None:
    flat = {"pwc.entries": 2, "pwc.guest.entries": [1, 2, 3, 4], "host.levels": 3}
    g, n = PWCBlockParams.from_flat(flat), PWCBlockParams.from_flat(flat, "nested")
    assert (g.dim, g.entries, g.asid_bits) == ("guest", (1, 2, 3), 12)
    assert (n.dim, n.entries, n.levels, n.asid_bits) == ("nested", (2, 2), 3, 0)
    assert build_pwc(PWCBlockParams.from_flat({"pwc.entries": 1, "guest.levels": 2})).inputs[
        "addr"] == 30


@pytest.mark.parametrize(("flat", "dim", "message"), [
    ({"pwc.entries": [1, 2]}, "guest", "pwc.entries: expected an integer or 4 integers"),
    ({"pwc.nested.entries": -1}, "nested", "pwc.nested.entries: expected counts >= 0"),
    ({"guest.levels": 6}, "guest", "guest.levels: expected 2 .. 5, got 6"),
    ({}, "host", "pwc dim: expected one of ('guest', 'nested'), got 'host'"),
])
def test_invalid_parameters_are_one_line_errors(flat: dict, dim: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        PWCBlockParams.from_flat(flat, dim)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_operands_must_fit_the_ports() -> None:
    with pytest.raises(ValueError, match="addr: operation 0 has"):
        PWCModel(GUEST).run([PWCOp.lookup(1 << 48)])
    with pytest.raises(ValueError, match="level: fill 0 has level 1"):
        PWCModel(GUEST).run([PWCOp.fill(0, 1, 0)])
