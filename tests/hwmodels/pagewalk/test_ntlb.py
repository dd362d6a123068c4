"""The standalone nested TLB (``codesign_ntlb``): one suite at every level (behavioural twin,
RTL on FastSimulation and CompiledSimulation), differential runs (hypothesis mixes and the gzip
trace), Icarus co-simulation cycle by cycle, cost figures, parameters.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwmodels import rtl
from hwmodels.pagewalk import NTLBParams
from hwmodels.pagewalk.cache_rtl import (
    NTLB_MODULE,
    NTLB_PORTS,
    build_ntlb,
    ntlb_cost,
    ntlb_verilog,
)
from hwmodels.pagewalk.caches import CacheOp, NTLBEvent, NTLBModel, NTLBOp
from hwmodels.pagewalk.params import NTLBBlockParams
from tests.hwmodels.pagewalk.cache_harness import (
    LEVELS,
    NTLB_CONFIGS,
    assert_same_events,
    counts,
    design,
    make_block,
    ntlb_ops,
    ntlb_trace_ops,
)

T = NTLB_CONFIGS["4x2"]  # 2 sets of 2 ways; the set is bit 0 of the page
FLUSH_ALL, FLUSH_VM, FLUSH_ASID = CacheOp.FLUSH_ALL, CacheOp.FLUSH_VM, CacheOp.FLUSH_ASID


@pytest.fixture(params=LEVELS)
def level(request: pytest.FixtureRequest) -> str:
    return request.param


def test_fill_then_lookup_hits_with_the_filled_translation(level: str) -> None:
    t = make_block("ntlb", T, level)
    ev = t.run([NTLBOp.lookup(0x345, vm=1), NTLBOp.fill(0x345, 0xABCDE, size=2, perm=5, vm=1),
                NTLBOp.lookup(0x345, vm=1), NTLBOp.lookup(0x345, vm=2),
                NTLBOp.lookup(0x347, vm=1)])
    assert ev[:2] == [NTLBEvent(), NTLBEvent()]
    assert ev[2] == NTLBEvent(hit=1, way=0, base=0xABCDE, size=2, perm=5)
    assert (ev[3].hit, ev[4].hit) == (0, 0)


def test_sets_are_independent_and_replace_their_lru_way(level: str) -> None:
    t = make_block("ntlb", T, level)
    even = [0x10, 0x12, 0x14]  # set 0
    ev = t.run([NTLBOp.fill(0x11, 1), *(NTLBOp.fill(p, i) for i, p in enumerate(even[:2])),
                NTLBOp.lookup(0x10), NTLBOp.fill(even[2], 2),
                *(NTLBOp.lookup(p) for p in [*even, 0x11])])
    assert [(e.way, e.evict) for e in ev[:3]] == [(0, 0), (0, 0), (1, 0)]
    assert (ev[4].way, ev[4].evict) == (1, 1)  # 0x12 was set 0's LRU way
    assert [(e.hit, e.way) for e in ev[5:]] == [(1, 0), (0, 0), (1, 1), (1, 0)]


def test_flushes_by_vm_and_not_by_address_space(level: str) -> None:
    t = make_block("ntlb", T, level)
    ev = t.run([NTLBOp.fill(1, 1, vm=1), NTLBOp.fill(2, 2, vm=1), NTLBOp.fill(3, 3, vm=2),
                NTLBOp.flush(FLUSH_ASID, vm=1), NTLBOp.flush(FLUSH_VM, vm=1),
                NTLBOp.lookup(3, vm=2), NTLBOp.lookup(1, vm=1), NTLBOp.flush(FLUSH_ALL),
                NTLBOp.flush(FLUSH_ALL)])
    assert [e.inv for e in ev[3:]] == [0, 2, 0, 0, 1, 0]
    assert (ev[5].hit, ev[6].hit) == (1, 0)


DIFF = settings(derandomize=True, deadline=None, max_examples=25,
                suppress_health_check=[HealthCheck.too_slow])


def _differential(name: str, backend: str, seed: int, n: int) -> None:
    p = NTLB_CONFIGS[name]
    ops = ntlb_ops(p, n, seed)
    assert_same_events(ops, NTLBModel(p).run(ops), make_block("ntlb", p, backend).run(ops),
                       f"{name}/{backend} seed={seed}")


@pytest.mark.parametrize("name", list(NTLB_CONFIGS))
def test_random_operations_compiled(name: str) -> None:
    @DIFF
    @given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 400))
    def check(seed: int, n: int) -> None:
        _differential(name, "compiled", seed, n)

    check()


@pytest.mark.parametrize("name", ["4x2", "direct"])
def test_random_operations_fast(name: str) -> None:
    @settings(DIFF, max_examples=8)
    @given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 300))
    def check(seed: int, n: int) -> None:
        _differential(name, "fast", seed, n)

    check()


@pytest.mark.parametrize("backend", ["fast", "compiled"])
@pytest.mark.parametrize("name", ["direct", "default"])
def test_trace_sequence(name: str, backend: str) -> None:
    p = NTLB_CONFIGS[name]
    ops = ntlb_trace_ops(p)
    want = NTLBModel(p).run(ops)
    assert counts(want, "hit") > 800 and counts(want, "evict") > 100 and counts(want, "inv") > 0
    assert_same_events(ops, want, make_block("ntlb", p, backend).run(ops), f"trace/{backend}")


def test_scoreboard_catches_another_associativity() -> None:
    p = NTLB_CONFIGS["4x2"]
    other = NTLBBlockParams(NTLBParams(4, 4), p.gpa_bits, p.pa_bits, p.vm_bits)
    ops = ntlb_ops(p, 300, 5)
    with pytest.raises(AssertionError, match="events differ at operation"):
        assert_same_events(ops, NTLBModel(other).run(ops),
                           make_block("ntlb", p, "compiled").run(ops), "x")


def test_a_disabled_ntlb_never_hits(level: str) -> None:
    p = NTLBBlockParams(NTLBParams(0), 32, 32, 1)
    assert set(make_block("ntlb", p, level).run(ntlb_ops(p, 60, 1))) == {NTLBEvent()}
    assert ntlb_cost(p).register_bits == 0


@pytest.mark.skipif(not rtl.icarus_available(), reason="Icarus Verilog not installed")
@pytest.mark.parametrize("name", ["4x2", "default"])
def test_icarus_matches_pyrtl_cycle_by_cycle(name: str, tmp_path) -> None:
    p = NTLB_CONFIGS[name]
    sim = make_block("ntlb", p, "compiled").sim
    ops = ntlb_ops(p, 700, 3)
    # A reset in the middle checks the Verilog's reset path, not only its initial values.
    stim = sim.stimulus(ops[:350], reset=True) + sim.stimulus(ops[350:], reset=True)
    outputs = list(NTLB_PORTS.values())
    want = rtl.run_stimulus(sim.sim, stim, outputs)
    got = rtl.run_icarus(sim.design.block, stim, outputs, NTLB_MODULE, tmp_path)
    for cycle in range(len(stim)):
        row = {k: got[k][cycle] for k in outputs}
        assert row == {k: want[k][cycle] for k in outputs}, f"cycle {cycle}: {stim[cycle]}"
    assert min(sum(1 for v in want[k] if v) for k in ("ev_hit", "ev_evict", "ev_inv")) > 0


def test_ports_and_module_name() -> None:
    d = design("ntlb", T)
    assert d.inputs == {"reset": 1, "op": 3, "page": 20, "vm": 2, "base": 20, "size": 2,
                        "perm": 3}
    assert d.outputs == {"ev_hit": 1, "ev_way": 1, "ev_base": 20, "ev_size": 2, "ev_perm": 3,
                         "ev_evict": 1, "ev_inv": 3}
    for p in (T, NTLB_CONFIGS["fa_wide"]):
        assert ntlb_verilog(p).count(f"module {NTLB_MODULE}(") == 1


def test_cost_figures_grow_with_the_entries() -> None:
    small, default = ntlb_cost(NTLBBlockParams(NTLBParams(4, 4))), ntlb_cost(NTLBBlockParams())
    for c in (small, default):
        assert c.nets > 0 and c.fmax_mhz > 0 and c.area_estimate_mm2 > 0
    assert default.register_bits > 3 * small.register_bits


def test_from_flat_takes_the_walker_keys() -> None:
    p = NTLBBlockParams.from_flat({"ntlb.entries": 32, "ntlb.ways": 8, "host.levels": 3,
                                   "pwc.entries": 0})
    assert (p.ntlb.sets, p.ntlb.ways, p.gpa_bits) == (4, 8, 39)
    assert build_ntlb(p).inputs["page"] == 27


@pytest.mark.parametrize(("flat", "message"), [
    ({"ntlb.entries": 12, "ntlb.ways": 8}, "ntlb.entries: expected a multiple of ntlb.ways"),
    ({"ntlb.entries": 24, "ntlb.ways": 8}, "ntlb.entries: expected a power-of-two number"),
    ({"ntlb.ways": 32}, "ntlb.ways: expected 1 .. ntlb.entries (16)"),
    ({"ntlb.size": 3}, "ntlb.size: unknown page-walk key"),
])
def test_invalid_parameters_are_one_line_errors(flat: dict, message: str) -> None:
    with pytest.raises(ValueError) as err:
        NTLBBlockParams.from_flat(flat)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_operands_must_fit_the_ports() -> None:
    with pytest.raises(ValueError, match="page: operation 1 has"):
        NTLBModel(T).run([NTLBOp.lookup(0), NTLBOp.lookup(1 << 20)])
