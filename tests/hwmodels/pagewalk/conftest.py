"""Fixtures of the walker tests: one suite, run on the behavioural model and on the RTL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hwmodels.pagewalk import PageWalkModel, WalkerParams
from hwmodels.pagewalk.rtl import WalkerSim
from hwmodels.pagewalk.tables import Memory
from hwmodels.rtl import have_c_compiler

LEVELS = ("model", "fast", "compiled")
"""The behavioural model and the RTL on both fast PyRTL backends (parity)."""


@pytest.fixture(scope="session")
def walker_sims() -> dict[tuple[WalkerParams, str], WalkerSim]:
    """RTL walkers built so far, by (params, backend): each design is compiled once."""
    return {}


def get_walker_sim(cache: dict[tuple[WalkerParams, str], WalkerSim], params: WalkerParams,
                   backend: str, mem: Memory, seed: int = 0) -> WalkerSim:
    """An RTL walker over ``mem`` in its power-on state, memory latency 0..3 cycles."""
    if backend == "compiled" and not have_c_compiler():
        pytest.skip("CompiledSimulation needs gcc on PATH")
    key = (params, backend)
    if key not in cache:
        cache[key] = WalkerSim(params, backend=backend)
    sim = cache[key]
    sim.load_memory(mem)
    sim.rng.seed(seed)
    sim.reset()
    return sim


@pytest.fixture(params=LEVELS)
def make_walker(request: pytest.FixtureRequest,
                walker_sims: dict) -> Callable[[WalkerParams, Memory], object]:
    """Factory of a walker in its power-on state over a memory image, at the test's level."""
    level = request.param

    def make(params: WalkerParams, mem: Memory):
        if level == "model":
            return PageWalkModel(params, mem)
        return get_walker_sim(walker_sims, params, level, mem)

    return make
