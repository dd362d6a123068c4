"""Co-simulation: exported Verilog run in Icarus matches the PyRTL simulation cycle by cycle."""

from __future__ import annotations

import pytest

from hwmodels import rtl
from hwmodels.tlb.rtl import EVENT_PORTS, MODULE_NAME, TLBSim, stimulus
from tests.hwmodels.conftest import get_sim
from tests.hwmodels.tlb_harness import CONFIGS, drive_trace, random_ops, read_lackey

pytestmark = pytest.mark.skipif(
    not rtl.icarus_available(), reason="Icarus Verilog (iverilog and vvp) is not installed"
)

OUTPUTS = list(EVENT_PORTS.values())


def _compare(sim: TLBSim, stim: list[dict[str, int]], tmp_path: object) -> None:
    expected = rtl.run_stimulus(sim.sim, stim, OUTPUTS)
    actual = rtl.run_icarus(sim.design.block, stim, OUTPUTS, MODULE_NAME, workdir=tmp_path)
    for cycle in range(len(stim)):
        want = {n: expected[n][cycle] for n in OUTPUTS}
        got = {n: actual[n][cycle] for n in OUTPUTS}
        assert got == want, f"cycle {cycle}: inputs {stim[cycle]}"
    assert sum(expected["ev_hit"]) > 0 and sum(expected["ev_evict"]) > 0  # not a vacuous run


@pytest.mark.parametrize("name", ["mixed", "untagged_fa", "wide_direct", "random3"])
def test_icarus_matches_pyrtl_on_random_operations(
    name: str, rtl_sims: dict, tmp_path: object
) -> None:
    sim = get_sim(rtl_sims, CONFIGS[name], "compiled")
    ops = random_ops(CONFIGS[name], 1200, seed=7)
    # A reset in the middle checks the Verilog's reset path, not only its initial values.
    stim = stimulus(sim.design, ops[:600]) + stimulus(sim.design, ops[600:], reset=True)
    _compare(sim, stim, tmp_path)


def test_icarus_matches_pyrtl_on_the_trace(rtl_sims: dict, tmp_path: object) -> None:
    sim = get_sim(rtl_sims, CONFIGS["mixed"], "compiled")
    ops = drive_trace(read_lackey(), CONFIGS["mixed"])
    _compare(sim, stimulus(sim.design, ops), tmp_path)
