"""Helpers of the MMU mechanism tests: streams by workload name, replay step by step."""

from __future__ import annotations

from typing import Any

import numpy as np

from codesign.mmu.replay import Counts, Replay, Setup
from codesign.params import build
from codesign.registry import default_registry
from workloads.memory.events import Ev


def stream(name: str, **params: Any) -> np.ndarray:
    """The events of a registered memory workload (``params``: workload keys without the
    ``workload.`` prefix)."""
    w = default_registry().workload(name)
    return w.generate(build(w.params, {f"workload.{k}": v for k, v in params.items()}))


def replay_stepwise(events: np.ndarray, setup: Setup) -> Counts:
    """The same replay with every ACCESS on its own: no batching across accesses."""
    r = Replay(setup)
    for i in range(len(events)):
        if events["op"][i] == Ev.ACCESS:
            r.accesses(events[i:i + 1])
        else:
            r.event(events[i])
    return r.c
