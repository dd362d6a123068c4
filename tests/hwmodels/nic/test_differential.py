"""Differential tests: the RTL and the behavioural model produce identical per-operation events
(queue, descriptor slot, DMA address, IOTLB hit, walk references, drops, faults, refusals) and
identical interrupt times.

Stimulus: hypothesis (a bring-up, then random operations at random gaps), long numpy-random
runs, and the realistic multi-VM stream. CompiledSimulation carries the long runs,
FastSimulation checks parity.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwmodels.nic import NICModel, NICOp, NICParams, Op, OpBatch, Status, count_events
from hwmodels.nic.rtl import NICSim
from hwmodels.nic.stream import multi_vm_stream
from tests.hwmodels.nic.conftest import get_sim
from tests.hwmodels.nic.harness import (
    CONFIGS,
    assert_same,
    concat_batches,
    gaps_strategy,
    op_strategy,
    random_ops,
    setup_ops,
    with_gaps,
)

DIFF_SETTINGS = settings(
    derandomize=True,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(sim: NICSim, params: NICParams, ops: OpBatch, label: str, tail: int = 40) -> None:
    sim.reset()
    end = int(ops.cycle[-1]) + tail if len(ops) else tail
    assert_same(ops, NICModel(params).run(ops, until=end), sim.run(ops, until=end), label)


def _stimulus(p: NICParams, max_size: int) -> st.SearchStrategy[OpBatch]:
    setup = OpBatch.from_ops(setup_ops(p))

    def build(ops: list[NICOp], gaps: list[int]) -> OpBatch:
        return concat_batches(setup, with_gaps(ops, gaps))

    return st.lists(op_strategy(p), min_size=max_size // 2, max_size=max_size).flatmap(
        lambda ops: gaps_strategy(len(ops)).map(lambda gaps: build(ops, gaps)))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_sequences_compiled(name: str, nic_sims: dict) -> None:
    params = CONFIGS[name]
    sim = get_sim(nic_sims, params, "compiled")

    @DIFF_SETTINGS
    @given(ops=_stimulus(params, 120))
    def check(ops: OpBatch) -> None:
        _check(sim, params, ops, f"{name}/compiled")

    check()


def test_random_sequences_fast(nic_sims: dict) -> None:
    params = CONFIGS["sriov"]
    sim = get_sim(nic_sims, params, "fast")

    @settings(DIFF_SETTINGS, max_examples=12)
    @given(ops=_stimulus(params, 60))
    def check(ops: OpBatch) -> None:
        _check(sim, params, ops, "sriov/fast")

    check()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_long_random_runs(name: str, nic_sims: dict) -> None:
    params = CONFIGS[name]
    ops = concat_batches(OpBatch.from_ops(setup_ops(params)), random_ops(params, 4000, seed=7))
    c = count_events(ops, NICModel(params).run(ops, until=int(ops.cycle[-1]) + 40))
    # The run exercises every outcome, or the comparison would prove little.
    for key in ("nic.rx.delivered", "nic.tx.sent", "nic.drops.vlan", "nic.drops.no_descriptor",
                "nic.faults.dma", "nic.denied", "nic.iotlb.hits", "nic.iotlb.misses",
                "nic.irq.raised"):
        assert c[key] > 10, key
    _check(get_sim(nic_sims, params, "compiled"), params, ops, f"{name}/long")


@pytest.fixture(scope="module")
def stream_params() -> NICParams:
    """Three VMs on VFs plus the PF, 8 queues, small IOTLB: a busy, realistic mix."""
    return NICParams(queues=8, vfs=3, filters=4, ring_size=8, vlans=4, itr_us=0.4,
                     irq_threshold=4, iotlb_entries=8, iotlb_ways=2, iova_bits=16, pa_bits=32,
                     clock_mhz=250.0)


@pytest.fixture(scope="module")
def stream_ops(stream_params: NICParams) -> OpBatch:
    """A multi-VM stream at 1.3x line rate, so rings run dry now and then."""
    return multi_vm_stream(stream_params, 2500, seed=3, load=1.3, chunk=24)


def test_stream_exercises_the_nic(stream_params: NICParams, stream_ops: OpBatch) -> None:
    r = NICModel(stream_params).run(stream_ops)
    c = count_events(stream_ops, r)
    assert c["nic.rx.frames"] == 2500
    assert c["nic.rx.delivered"] > 2000 and c["nic.drops.no_descriptor"] > 0
    assert c["nic.drops.vlan"] > 0 and c["nic.tx.sent"] > 300
    assert c["nic.iotlb.hits"] > 0 and c["nic.iotlb.misses"] > 0
    assert c["nic.faults.dma"] == 0 and c["nic.denied"] == 0  # the drivers are well behaved
    delivered = r.events["status"] == Status.OK
    assert set(r.events["fn"][delivered].tolist()) == {0, 1, 2, 3}
    assert c["nic.irq.raised"] > 100


@pytest.mark.parametrize("backend", ["fast", "compiled"])
def test_multi_vm_stream(backend: str, stream_params: NICParams, stream_ops: OpBatch,
                         nic_sims: dict) -> None:
    ops = stream_ops if backend == "compiled" else stream_ops[:1500]
    _check(get_sim(nic_sims, stream_params, backend), stream_params, ops, f"stream/{backend}")


@pytest.mark.parametrize(
    "mutant",
    [
        replace(CONFIGS["sriov"], itr_us=0.036),
        replace(CONFIGS["sriov"], irq_threshold=3),
        replace(CONFIGS["sriov"], iotlb_policy="lru"),
        replace(CONFIGS["sriov"], iommu_levels=3),
    ],
    ids=["throttle", "threshold", "policy", "walk-levels"],
)
def test_scoreboard_catches_a_different_design(mutant: NICParams, nic_sims: dict) -> None:
    # The differential tests only mean something if a wrong reference would fail them.
    params = CONFIGS["sriov"]
    sim = get_sim(nic_sims, params, "compiled")
    ops = concat_batches(OpBatch.from_ops(setup_ops(params)), random_ops(params, 3000, seed=2))
    _check(sim, params, ops, "design itself")
    sim.reset()
    end = int(ops.cycle[-1]) + 40
    with pytest.raises(AssertionError, match="differ"):
        assert_same(ops, NICModel(mutant).run(ops, until=end), sim.run(ops, until=end), "mutant")


def test_rx_and_tx_share_one_translation_per_cycle() -> None:
    # Guard on the stimulus contract the RTL relies on: one operation per cycle.
    with pytest.raises(ValueError, match="strictly increasing"):
        OpBatch.from_ops([NICOp.rx(1, at=3), NICOp.tx(at=3)]).check(CONFIGS["pf"])
    assert Op.RX != Op.TX
