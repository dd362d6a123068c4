"""The PML unit (issue 16): the behavioural twin against the SDM's rules, the PyRTL unit
against the twin cycle by cycle (hypothesis streams and a recorded trace, PyRTL and Icarus),
and its cost as ``hw.pml.*``."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign.errors import InputError
from codesign.hardware import hardware_metrics
from hwmodels import rtl
from hwmodels.pml import EVENT_FIELDS, PMLBatch, PMLModel, PMLOp, PMLParams, PMLRequest
from hwmodels.pml.rtl import EVENT_PORTS, MODULE_NAME, PMLSim, build_pml, stimulus
from tests.hwmodels.tlb_harness import TRACE

R = PMLRequest


def _run(model: PMLModel, reqs: list[PMLRequest]) -> dict[str, np.ndarray]:
    return model.run(PMLBatch.from_requests(reqs))


def migrate(model: PMLModel, writes: list[tuple[int, bool]], round_every: int
            ) -> tuple[list[PMLRequest], list[list[int]], int]:
    """A hypervisor driving the unit closed-loop, as KVM does: PML enabled with the index at
    ``entries - 1``; ``writes`` are (guest-physical address, is-a-write) accesses whose EPT
    accessed and dirty flags the driver tracks (the walker's job); on a log-full exit it
    drains the log (the slots written since the last drain), resets the index and retries
    the access; every ``round_every`` accesses a migration round ends: the log is drained and
    every flag cleared (so each page's first write in a round is logged again). Returns the
    operations issued (to replay open-loop), the pages logged per round, and the exits."""
    ops = [R.set_base(0x1234), R.set_index(model.params.entries - 1), R.enable()]
    for r in ops:
        model.step(r)
    accessed: set[int] = set()
    dirty: set[int] = set()
    rounds: list[list[int]] = [[]]
    exits = 0

    def issue(req: PMLRequest) -> object:
        ops.append(req)
        return model.step(req)

    for i, (gpa, write) in enumerate(writes):
        page = gpa >> 12
        while True:
            ev = issue(R.access(gpa, write, page in accessed, page in dirty))
            if not ev.full:
                break
            exits += 1
            issue(R.set_index(model.params.entries - 1))  # drained: the pages are in rounds
        if ev.update:
            accessed.add(page)
            if write:
                dirty.add(page)
        if ev.log:
            rounds[-1].append(ev.data >> 12)
        if (i + 1) % round_every == 0:
            issue(R.set_index(model.params.entries - 1))
            accessed.clear()
            dirty.clear()
            rounds.append([])
    return ops, rounds, exits


# -- the twin against the SDM ------------------------------------------------------------------


def test_one_exit_per_full_log_not_one_per_dirty_page() -> None:
    """KVM's cover letter: one exit per 512 dirty pages instead of one fault per page."""
    m = PMLModel(PMLParams())
    writes = [(p << 12, True) for p in range(2000)]
    _, rounds, exits = migrate(m, writes, round_every=10**9)
    assert exits == (2000 - 1) // 512 == 3
    assert rounds[0] == list(range(2000))  # every page logged once, in order


def test_each_page_is_logged_once_per_round() -> None:
    m = PMLModel(PMLParams(entries=8))
    pages = [3, 3, 5, 3, 9, 5, 9, 9] * 4
    _, rounds, _ = migrate(m, [(p << 12 | 0x18, True) for p in pages], round_every=8)
    assert rounds[:4] == [[3, 5, 9]] * 4


def test_reads_set_accessed_flags_without_logging_but_still_meet_a_full_log() -> None:
    """The SDM checks the index before setting an accessed *or* dirty flag."""
    m = PMLModel(PMLParams(entries=1))
    ev = _run(m, [R.enable(), R.access(0x1000, write=False), R.access(0x2000),
                  R.access(0x3000, write=False), R.access(0x3000, write=False, accessed=True),
                  R.access(0x4000, write=True, accessed=True, dirty=True)])
    assert ev["update"].tolist() == [0, 1, 1, 0, 0, 0]
    assert ev["log"].tolist() == [0, 0, 1, 0, 0, 0]
    # index 0 -> FFFFH after the log: the next access needing a flag exits; ones that need
    # none (accessed read, write to a dirty page) go through
    assert ev["full"].tolist() == [0, 0, 0, 1, 0, 0]
    assert ev["index"].tolist() == [0, 0, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF]


def test_log_entries_are_4k_aligned_and_counted_down_from_the_pml_address() -> None:
    m = PMLModel(PMLParams())
    ev = _run(m, [R.set_base(0x77), R.enable(), R.access(0xABCDE), R.access(0x12FFF)])
    assert ev["slot"][2:].tolist() == [511, 510]
    assert ev["addr"][2:].tolist() == [0x77000 + 8 * 511, 0x77000 + 8 * 510]
    assert ev["data"][2:].tolist() == [0xAB000, 0x12000]


def test_disabled_pml_sets_flags_and_logs_nothing() -> None:
    m = PMLModel(PMLParams(entries=1))
    ev = _run(m, [R.access(p << 12) for p in range(5)])
    assert ev["update"].tolist() == [1] * 5
    assert not ev["log"].any() and not ev["full"].any()
    assert m.index == 0  # untouched


def test_bad_operands_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match=r"^gpa: operation 0 has 0x100000000, expected"):
        PMLBatch.from_requests([R.access(1 << 32)]).check(PMLParams(pa_bits=32))
    with pytest.raises(ValueError, match=r"^value: operation 1 \(ENABLE\) has 0x2"):
        PMLBatch.from_requests([R.enable(), R(PMLOp.ENABLE, value=2)]).check(PMLParams())


# -- the RTL against the twin ------------------------------------------------------------------

GEOMETRIES = [PMLParams(entries=1, pa_bits=20), PMLParams(entries=4, pa_bits=24),
              PMLParams(entries=512, pa_bits=52)]

_designs: dict[PMLParams, object] = {}


def _sim(params: PMLParams, backend: str = "fast") -> PMLSim:
    design = _designs.get(params)
    if design is None:
        design = _designs[params] = build_pml(params)
    return PMLSim(params, backend, design=design)  # type: ignore[arg-type]


@st.composite
def op_streams(draw: st.DrawFn, params: PMLParams) -> list[PMLRequest]:
    """Mostly accesses, with every flag combination, and the hypervisor's writes: index
    values in range, at the edges and out of range, PML addresses, enable toggles."""
    n = draw(st.integers(1, 120))
    gpas = st.integers(0, (1 << params.pa_bits) - 1)
    index = st.one_of(st.integers(0, params.entries - 1),
                      st.sampled_from([0, params.entries - 1, params.entries, 0xFFFF]),
                      st.integers(0, 0xFFFF))
    one = st.one_of(
        st.builds(R.access, gpas, st.booleans(), st.booleans(), st.booleans()),
        st.builds(R.access, gpas, st.booleans(), st.booleans(), st.booleans()),
        st.builds(R.access, gpas, st.booleans(), st.booleans(), st.booleans()),
        st.builds(R.set_index, index),
        st.builds(R.set_base, st.integers(0, (1 << params.frame_bits) - 1)),
        st.builds(R.enable, st.booleans()),
        st.just(R()))
    return draw(st.lists(one, min_size=n, max_size=n))


def _compare(params: PMLParams, ops: list[PMLRequest], backend: str = "fast") -> None:
    sim = _sim(params, backend)
    model = PMLModel(params)
    want = model.run(PMLBatch.from_requests(ops))
    got = sim.run(ops)
    for f in EVENT_FIELDS:
        assert got[f].tolist() == want[f].tolist(), f


@pytest.mark.parametrize("params", GEOMETRIES, ids=lambda p: f"{p.entries}x{p.pa_bits}")
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_rtl_equals_the_twin_on_random_operations(params: PMLParams, data: st.DataObject
                                                  ) -> None:
    _compare(params, data.draw(op_streams(params)))


def _recorded(entries: int) -> tuple[PMLParams, list[PMLRequest]]:
    """The committed lackey trace's data references (stores and modifies as writes), at
    their own addresses, through :func:`migrate` (rounds every 3,000 references)."""
    refs = []
    with gzip.open(TRACE, "rt") as f:
        for line in f:
            if len(line) > 3 and line[0] == " " and line[1] in "LSM":
                refs.append((int(line[3:].split(",")[0], 16), line[1] != "L"))
    params = PMLParams(entries=entries, pa_bits=48)
    ops, rounds, exits = migrate(PMLModel(params), refs[:20_000], round_every=3000)
    assert exits > 0 and sum(map(len, rounds)) > exits  # the log filled, and more was logged
    return params, ops


def test_rtl_equals_the_twin_on_a_recorded_trace() -> None:
    params, ops = _recorded(entries=8)
    _compare(params, ops)


def test_the_compiled_simulator_agrees() -> None:
    params, ops = _recorded(entries=4)
    _compare(params, ops[:3000], backend="compiled")


def test_reset_restores_the_power_on_state() -> None:
    params = PMLParams(entries=4, pa_bits=24)
    sim = _sim(params)
    sim.run([R.set_index(1), R.enable(), R.set_base(5)])
    ev = sim.run([R.access(0x3000)], reset=True)
    assert ev["log"].tolist() == [0] and ev["index"].tolist() == [3]  # disabled, index 3


# -- Verilog in a second simulator, and cost -----------------------------------------------------


@pytest.mark.skipif(not rtl.icarus_available(), reason="Icarus Verilog is not installed")
@pytest.mark.parametrize("entries", [1, 8])
def test_icarus_matches_pyrtl(entries: int, tmp_path: object) -> None:
    params, ops = _recorded(entries)
    design = build_pml(params)
    stim = stimulus(design, ops[:1500]) + stimulus(design, ops[1500:2500], reset=True)
    outputs = list(EVENT_PORTS.values())
    expected = rtl.run_stimulus(rtl.make_simulator(design.block, "fast"), stim, outputs)
    actual = rtl.run_icarus(design.block, stim, outputs, MODULE_NAME, workdir=tmp_path)
    for cycle in range(len(stim)):
        assert {n: actual[n][cycle] for n in outputs} == {n: expected[n][cycle]
                                                          for n in outputs}, cycle
    assert sum(expected["ev_log"]) > 0 and sum(expected["ev_full"]) > 0


def test_cost_metrics() -> None:
    m = hardware_metrics("pml", {"pml.entries": 512}, synth=False)
    assert m["hw.pml.register_bits"] == 1 + 16 + 40  # enable, index, PML address frame
    assert m["hw.pml.area_mm2"] > 0 and m["hw.pml.fmax_mhz"] > 0
    with pytest.raises(InputError, match=r"pml\.entries: expected a power of two"):
        hardware_metrics("pml", {"pml.entries": 500}, synth=False)
