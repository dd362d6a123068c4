"""Fixtures of the hardware-model tests: one TLB suite, run at every level."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hwmodels.tlb import TLBFrontend, TLBModel, TLBParams
from hwmodels.tlb.rtl import TLBSim
from tests.hwmodels import levels

LEVELS = levels.LEVELS


@pytest.fixture(scope="session")
def rtl_sims() -> dict[tuple[Any, str], Any]:
    """RTL simulators built so far, by (params, backend): each design is compiled once."""
    return {}


def get_sim(cache: dict[tuple[Any, str], Any], params: TLBParams, backend: str) -> TLBSim:
    """A TLB simulator of ``params`` on ``backend`` in its power-on state."""
    return levels.get_sim(cache, TLBSim, params, backend)


@pytest.fixture(params=LEVELS)
def make_tlb(request: pytest.FixtureRequest,
             rtl_sims: dict[tuple[Any, str], Any]) -> Callable[[TLBParams], TLBFrontend]:
    """Factory of a TLB in its power-on state, at the level named by the test's parameter."""
    return levels.make_factory(request.param, rtl_sims, TLBModel, TLBSim)
