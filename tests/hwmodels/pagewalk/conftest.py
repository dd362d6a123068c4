"""Fixtures of the walker tests: one suite, run on the behavioural model and on the RTL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hwmodels.pagewalk import PageWalkModel, WalkerParams
from hwmodels.pagewalk.tables import Memory

LEVELS = ("model",)
"""Levels every suite test runs on."""


@pytest.fixture(params=LEVELS)
def make_walker(request: pytest.FixtureRequest) -> Callable[[WalkerParams, Memory], object]:
    """Factory of a walker in its power-on state over a memory image, at the test's level."""
    assert request.param == "model"

    def make(params: WalkerParams, mem: Memory):
        return PageWalkModel(params, mem)

    return make
