"""Fixtures of the NIC tests: one suite, run on the behavioural model and on the RTL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hwmodels.nic import NICFrontend, NICModel, NICParams
from hwmodels.nic.rtl import NICSim
from tests.hwmodels import levels

LEVELS = levels.LEVELS


@pytest.fixture(scope="session")
def nic_sims() -> dict[tuple[Any, str], Any]:
    """RTL simulators built so far, by (params, backend): each design is compiled once."""
    return {}


def get_sim(cache: dict[tuple[Any, str], Any], params: NICParams, backend: str) -> NICSim:
    """A NIC simulator of ``params`` on ``backend`` in its power-on state."""
    return levels.get_sim(cache, NICSim, params, backend)


@pytest.fixture(params=LEVELS)
def make_nic(request: pytest.FixtureRequest,
             nic_sims: dict[tuple[Any, str], Any]) -> Callable[[NICParams], NICFrontend]:
    """Factory of a NIC in its power-on state, at the level named by the test's parameter."""
    return levels.make_factory(request.param, nic_sims, NICModel, NICSim)
