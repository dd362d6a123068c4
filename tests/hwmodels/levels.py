"""One test suite, every level: the behavioural model and the RTL on both fast backends.

A block's conftest names its model and simulator classes; :func:`make_factory` gives the
factory fixture tests call to get the block in its power-on state at the level the test is
parametrized with, and :func:`get_sim` builds each RTL design once per session.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import pytest

from hwmodels.rtl import have_c_compiler

LEVELS = ("model", "fast", "compiled")


def get_sim(cache: dict[tuple[Hashable, str], Any], sim_cls: Callable[..., Any],
            params: Hashable, backend: str) -> Any:
    """A simulator of ``params`` on ``backend`` in its power-on state (built once, then reset)."""
    if backend == "compiled" and not have_c_compiler():
        pytest.skip("CompiledSimulation needs gcc on PATH")
    key = (params, backend)
    if key in cache:
        cache[key].reset()
    else:
        cache[key] = sim_cls(params, backend)
    return cache[key]


def make_factory(level: str, cache: dict[tuple[Hashable, str], Any],
                 model_cls: Callable[..., Any], sim_cls: Callable[..., Any]
                 ) -> Callable[[Any], Any]:
    """Factory of the block at ``level``: a fresh model, or a reset RTL simulator."""
    def make(params: Any) -> Any:
        if level == "model":
            return model_cls(params)
        return get_sim(cache, sim_cls, params, level)

    return make
