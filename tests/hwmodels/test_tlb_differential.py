"""Differential tests: the RTL and the behavioural model produce identical per-operation events.

Stimulus comes from hypothesis (random sequences of lookups, fills of every page size, flushes
of every kind, tag switches) and from a slice of a real memory trace (tests/data). The RTL runs
on CompiledSimulation for the long and numerous runs and on FastSimulation for parity.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from hwmodels.tlb import OpBatch, TLBArrayParams, TLBModel, TLBParams, count_events
from hwmodels.tlb.rtl import TLBSim
from tests.hwmodels.conftest import get_sim
from tests.hwmodels.tlb_harness import (
    CONFIGS,
    assert_same_events,
    drive_trace,
    ops_strategy,
    random_ops,
    read_lackey,
)

# A fixed-seed search; each example starts both levels from power-on (RTL: a reset cycle).
DIFF_SETTINGS = settings(
    derandomize=True,
    deadline=None,
    max_examples=250,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(sim: TLBSim, params: TLBParams, ops: OpBatch, label: str) -> None:
    sim.reset()
    assert_same_events(ops, TLBModel(params).run(ops), sim.run(ops), label)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_sequences_compiled(name: str, rtl_sims: dict) -> None:
    params = CONFIGS[name]
    sim = get_sim(rtl_sims, params, "compiled")

    @DIFF_SETTINGS
    @given(ops=ops_strategy(params))
    def check(ops: OpBatch) -> None:
        _check(sim, params, ops, f"{name}/compiled")

    check()


def test_random_sequences_fast(rtl_sims: dict) -> None:
    params = CONFIGS["mixed"]
    sim = get_sim(rtl_sims, params, "fast")

    @settings(DIFF_SETTINGS, max_examples=60)
    @given(ops=ops_strategy(params, max_size=80))
    def check(ops: OpBatch) -> None:
        _check(sim, params, ops, "mixed/fast")

    check()


@pytest.fixture(scope="module")
def trace_ops() -> OpBatch:
    """The recorded gzip slice, driven through the MIXED TLB (lookups, fills on miss, flushes)."""
    return drive_trace(read_lackey(), CONFIGS["mixed"])


def test_trace_stimulus_exercises_the_tlb(trace_ops: OpBatch) -> None:
    c = count_events(trace_ops, TLBModel(CONFIGS["mixed"]).run(trace_ops))
    assert c["lookups"] == 6000
    assert c["hits_4k"] > 0 and c["hits_2m"] > 0
    assert c["evictions"] > 100 and c["entries_invalidated"] > 0


@pytest.mark.parametrize("backend", ["fast", "compiled"])
def test_real_trace(backend: str, trace_ops: OpBatch, rtl_sims: dict) -> None:
    params = CONFIGS["mixed"]
    sim = get_sim(rtl_sims, params, backend)
    _check(sim, params, trace_ops, f"trace/{backend}")


@pytest.mark.parametrize(
    "mutant",
    [
        replace(CONFIGS["mixed"], l4k=TLBArrayParams(16, 4, "plru")),
        replace(CONFIGS["mixed"], lfsr_seed=0xACE2),
        replace(CONFIGS["mixed"], l4k=TLBArrayParams(16, 2, "lru")),
    ],
    ids=["lru-vs-plru", "lfsr-seed", "ways"],
)
def test_scoreboard_catches_a_different_design(mutant: TLBParams, rtl_sims: dict) -> None:
    # The differential tests only mean something if a wrong reference would fail them.
    sim = get_sim(rtl_sims, CONFIGS["mixed"], "compiled")
    ops = random_ops(CONFIGS["mixed"], 2000, seed=1)
    _check(sim, CONFIGS["mixed"], ops, "design itself")
    with pytest.raises(AssertionError, match="events differ at operation"):
        _check(sim, mutant, ops, "mutant")
