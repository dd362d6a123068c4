"""Fixtures of the NIC tests: one suite, run on the behavioural model and on the RTL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hwmodels.nic import NICFrontend, NICModel, NICParams
from hwmodels.nic.rtl import NICSim
from hwmodels.rtl import have_c_compiler

LEVELS = ("model", "fast", "compiled")


@pytest.fixture(scope="session")
def nic_sims() -> dict[tuple[NICParams, str], NICSim]:
    """RTL simulators built so far, by (params, backend): each design is compiled once."""
    return {}


def get_sim(cache: dict[tuple[NICParams, str], NICSim], params: NICParams,
            backend: str) -> NICSim:
    """A simulator of ``params`` on ``backend`` in its power-on state (built once, then reset)."""
    if backend == "compiled" and not have_c_compiler():
        pytest.skip("CompiledSimulation needs gcc on PATH")
    key = (params, backend)
    if key in cache:
        cache[key].reset()
    else:
        cache[key] = NICSim(params, backend)
    return cache[key]


@pytest.fixture(params=LEVELS)
def make_nic(
    request: pytest.FixtureRequest, nic_sims: dict[tuple[NICParams, str], NICSim]
) -> Callable[[NICParams], NICFrontend]:
    """Factory of a NIC in its power-on state, at the level named by the test's parameter."""
    level = request.param

    def make(params: NICParams) -> NICFrontend:
        return NICModel(params) if level == "model" else get_sim(nic_sims, params, level)

    return make
