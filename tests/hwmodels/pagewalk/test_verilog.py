"""Exported Verilog: Icarus runs the same stimulus as the PyRTL simulation, cycle by cycle;
cost figures come from ``hwmodels.rtl.cost_report``."""

from __future__ import annotations

import pytest

from hwmodels.pagewalk.rtl import MODULE_NAME, OUTPUTS, WalkerSim, walker_cost, walker_verilog
from hwmodels.rtl import icarus_available, run_icarus
from tests.hwmodels.pagewalk.harness import build_world, requests, uncached
from tests.hwmodels.pagewalk.test_differential import CONFIGS


def test_module_name_is_stable_across_parameters() -> None:
    for p in (CONFIGS["2x3"], CONFIGS["5x2"]):
        v = walker_verilog(p)
        assert v.count(f"module {MODULE_NAME}(") == 1


@pytest.mark.skipif(not icarus_available(), reason="Icarus Verilog (iverilog, vvp) not installed")
@pytest.mark.parametrize("name", ["4x4", "2x3", "4x4_agile"])
def test_icarus_matches_pyrtl_cycle_by_cycle(name: str, tmp_path) -> None:
    p = CONFIGS[name]
    world = build_world(p, 11)
    reqs = requests(world, p, 60, 11)
    sim = WalkerSim(p, world.mem, backend="fast", latency=(0, 3), seed=11, record=True)
    sim.run(reqs)
    assert sum(o["done"] for o in sim.trace_out) == len(reqs)
    got = run_icarus(sim.design.block, sim.trace_in, list(OUTPUTS), MODULE_NAME, tmp_path)
    for cycle, want in enumerate(sim.trace_out):
        row = {k: got[k][cycle] for k in OUTPUTS}
        assert row == want, f"cycle {cycle}: Icarus {row} != PyRTL {want}"


def test_cost_figures_grow_with_the_caches() -> None:
    cached = walker_cost(CONFIGS["4x4"])
    bare = walker_cost(uncached(CONFIGS["4x4"]))
    for c in (bare, cached):
        assert c.nets > 0 and c.fmax_mhz > 0 and c.area_estimate_mm2 > 0
    assert cached.register_bits > bare.register_bits
