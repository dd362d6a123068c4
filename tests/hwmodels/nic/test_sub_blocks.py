"""NIC sub-blocks: each is the NIC's own logic built alone (``hwmodels.nic.rtl.SUB_BLOCKS``).

Its exported Verilog simulates in Icarus exactly as PyRTL does, cycle by cycle; the rings and
the DMA engine behave as their part of the behavioural model, operation by operation; their
registers are the NIC's. Roles as in ``harness``: the driver is ``sub_block_stimulus`` (one
NIC stimulus seen from the sub-block's ports), the reference ``NICModel``, the monitor the
sub-block's simulation, the scoreboard the comparisons below.
"""

from __future__ import annotations

import numpy as np
import pyrtl
import pytest

from hwmodels import rtl
from hwmodels.nic import NICModel, NICParams, NICResult, Op, OpBatch, Status
from hwmodels.nic.rtl import (
    DMA_PORTS,
    RINGS_PORTS,
    SUB_BLOCKS,
    build_dma,
    build_rings,
    clear_ops,
    nic_cost,
    sub_block_cost,
    sub_block_verilog,
)
from tests.hwmodels.nic.harness import (
    CONFIGS,
    concat_batches,
    random_ops,
    setup_ops,
    sub_block_stimulus,
)

SMALL = CONFIGS["sriov"]  # 3 functions, 8 queues, PLRU IOTLB


@pytest.fixture(scope="module")
def reference() -> tuple[OpBatch, NICResult, int]:
    """A cleared, brought-up NIC and random traffic: every outcome of every sub-block."""
    ops = concat_batches(clear_ops(SMALL), OpBatch.from_ops(setup_ops(SMALL)),
                         random_ops(SMALL, 4000, seed=5))
    end = int(ops.cycle[-1]) + 30
    return ops, NICModel(SMALL).run(ops, until=end), end


def _inputs(block: pyrtl.Block) -> list[str]:
    return sorted(w.name for w in block.wirevector_subset(pyrtl.Input))


def _outputs(block: pyrtl.Block) -> list[str]:
    return sorted(w.name for w in block.wirevector_subset(pyrtl.Output))


@pytest.mark.skipif(not rtl.icarus_available(), reason="needs iverilog and vvp")
@pytest.mark.parametrize("name", list(SUB_BLOCKS))
def test_icarus_matches_pyrtl(name: str, reference: tuple[OpBatch, NICResult, int],
                              tmp_path) -> None:
    ops, ref, end = reference
    module, builder = SUB_BLOCKS[name]
    block = builder(SMALL)  # type: ignore[operator]
    rows = sub_block_stimulus(name, SMALL, _inputs(block), ops, ref, end)
    outputs = _outputs(block)
    want = rtl.run_stimulus(rtl.make_simulator(block, "compiled"), rows, outputs)
    got = rtl.run_icarus(block, rows, outputs, module_name=module, workdir=tmp_path)
    for port in outputs:
        if got[port] != want[port]:
            i = next(k for k, (a, b) in enumerate(zip(got[port], want[port], strict=True))
                     if a != b)
            raise AssertionError(f"{name}.{port} differs in cycle {i}: icarus {got[port][i]} "
                                 f"pyrtl {want[port][i]}")
    # The stimulus moved every output, or the comparison would prove little.
    assert all(len(set(want[port])) > 1 for port in outputs), name


def _simulate(block: pyrtl.Block, name: str, reference: tuple[OpBatch, NICResult, int]
              ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """The sub-block on the reference stimulus: its outputs, the operation codes and the
    reference's events, in operation order."""
    ops, ref, end = reference
    rows = sub_block_stimulus(name, SMALL, _inputs(block), ops, ref, end)
    out = rtl.run_stimulus(rtl.make_simulator(block, "compiled"), rows, _outputs(block))
    return ({k: np.asarray(v)[ops.cycle] for k, v in out.items()}, ops.op,
            {f: col.astype(np.int64) for f, col in ref.events.items()})


def test_rings_behave_as_the_models_rings(reference: tuple[OpBatch, NICResult, int]) -> None:
    got, op, ev = _simulate(build_rings(SMALL), "nic-rings", reference)
    st = ev["status"]
    moved = (st == Status.OK) | (st == Status.FAULT)
    assert np.array_equal(got["rings_go"] == 1, moved)
    assert np.array_equal(got["rings_drop"] == 1, st == Status.DROP_NO_DESC)
    ring_ops = np.isin(op, [Op.DESC, Op.DOORBELL, Op.IRQ_MASK])
    assert np.array_equal(got["rings_denied"] == 1, ring_ops & (st == Status.DENIED))
    for port, want in (("rings_queue", ev["queue"]), ("rings_slot", ev["slot"]),
                       ("rings_ring", (op == Op.TX).astype(np.int64))):
        assert np.array_equal(got[port][moved], want[moved]), port
    # The buffer address read is the one the stimulus last wrote into that slot (the DMA
    # engine's driver tracks it).
    ops, ref, end = reference
    dma_in = sub_block_stimulus("nic-dma", SMALL, ["dma_iova"], ops, ref, end)
    iova = np.array([dma_in[c]["dma_iova"] for c in ops.cycle.tolist()], dtype=np.int64)
    assert np.array_equal(got["rings_iova"][moved], iova[moved])
    assert moved.sum() > 200 and (st == Status.DROP_NO_DESC).sum() > 20
    assert (ring_ops & (st == Status.DENIED)).sum() > 20 and (moved & (op == Op.TX)).sum() > 50


def test_dma_behaves_as_the_models_dma(reference: tuple[OpBatch, NICResult, int]) -> None:
    got, _, ev = _simulate(build_dma(SMALL, page_table=True), "nic-dma", reference)
    st = ev["status"]
    moved = (st == Status.OK) | (st == Status.FAULT)
    assert np.array_equal(got["dma_hit"][moved], ev["iotlb_hit"][moved])
    assert np.array_equal(got["dma_allowed"][moved] == 1, st[moved] == Status.OK)
    ok = st == Status.OK
    assert np.array_equal(got["dma_addr"][ok], ev["dma_addr"][ok])
    assert ev["iotlb_hit"][moved].sum() > 50 and (1 - ev["iotlb_hit"][moved]).sum() > 50
    assert (st == Status.FAULT).sum() > 20


def test_sub_blocks_are_the_nics_registers() -> None:
    # Built from the NIC's own logic: classifier, rings, DMA and interrupts hold every
    # register of the NIC once; the IOTLB is all the DMA engine's state.
    whole = nic_cost(SMALL)
    cost = {name: sub_block_cost(name, SMALL) for name in SUB_BLOCKS}
    parts = ("nic-classifier", "nic-rings", "nic-dma", "nic-irq")
    assert sum(cost[n].register_bits for n in parts) == whole.register_bits
    assert cost["nic-dma"].register_bits == cost["nic-iotlb"].register_bits
    assert cost["nic-rings"].mem_area_estimate_mm2 > 0  # the descriptor RAM
    assert cost["nic-dma"].mem_area_estimate_mm2 == 0  # page tables are host memory
    for name in ("nic-rings", "nic-dma"):
        assert sub_block_verilog(name, SMALL).count(f"module {SUB_BLOCKS[name][0]}(") == 1


def test_ports_are_documented() -> None:
    rings = build_rings(SMALL)
    assert set(RINGS_PORTS) == set(_outputs(rings))
    assert {"rx_ok", "rx_queue", "op", "queue", "slot", "addr"} <= set(_inputs(rings))
    dma = build_dma(SMALL)
    assert set(DMA_PORTS) < set(_outputs(dma))
    assert {"walk_present", "walk_perms", "walk_pfn"} <= set(_inputs(dma))
    assert "walk_present" not in _inputs(build_dma(SMALL, page_table=True))


@pytest.mark.parametrize("p", [NICParams(), NICParams(vfs=63)], ids=["82599-vmdq", "63-vfs"])
def test_82599_sized_rings_and_dma_build(p: NICParams) -> None:
    rings, dma = sub_block_cost("nic-rings", p), sub_block_cost("nic-dma", p)
    # Per queue two head and two tail registers of 8 bits, and the transmit arbiter's.
    assert rings.register_bits == 128 * 4 * 8 + 7
    assert dma.register_bits == sub_block_cost("nic-iotlb", p).register_bits > 0
    assert rings.fmax_mhz > 0 and dma.fmax_mhz > 0
