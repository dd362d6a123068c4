"""Fixtures of the hardware-model tests: one TLB suite, run at every level."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hwmodels.rtl import have_c_compiler
from hwmodels.tlb import TLBFrontend, TLBModel, TLBParams
from hwmodels.tlb.rtl import TLBSim

LEVELS = ("model", "fast", "compiled")
"""The behavioural model and the RTL on both fast PyRTL backends (parity)."""


@pytest.fixture(scope="session")
def rtl_sims() -> dict[tuple[TLBParams, str], TLBSim]:
    """RTL simulators built so far, by (params, backend): each design is compiled once."""
    return {}


def get_sim(cache: dict[tuple[TLBParams, str], TLBSim], params: TLBParams, backend: str) -> TLBSim:
    """A simulator of ``params`` on ``backend`` in its power-on state (built once, then reset)."""
    if backend == "compiled" and not have_c_compiler():
        pytest.skip("CompiledSimulation needs gcc on PATH")
    key = (params, backend)
    if key in cache:
        cache[key].reset()
    else:
        cache[key] = TLBSim(params, backend)
    return cache[key]


@pytest.fixture(params=LEVELS)
def make_tlb(
    request: pytest.FixtureRequest, rtl_sims: dict[tuple[TLBParams, str], TLBSim]
) -> Callable[[TLBParams], TLBFrontend]:
    """Factory of a TLB in its power-on state, at the level named by the test's parameter."""
    level = request.param

    def make(params: TLBParams) -> TLBFrontend:
        return TLBModel(params) if level == "model" else get_sim(rtl_sims, params, level)

    return make
