"""The packet suites: every mix is a complete, valid workload every NIC mechanism runs."""

from __future__ import annotations

import pytest

from codesign.params import build
from codesign.registry import default_registry
from tests.net.helpers import run
from workloads.packets.frames import validate
from workloads.packets.suites import SUITES, suite_names

MIXES = [(s.name, m) for s in SUITES for m in s.mixes]


def test_suites_have_distinct_names_and_mix_labels() -> None:
    assert len(set(suite_names())) == len(SUITES)
    for s in SUITES:
        labels = [m.label for m in s.mixes]
        assert len(set(labels)) == len(labels), s.name


@pytest.mark.parametrize(("name", "mix"), MIXES, ids=[f"{n}/{m.label}" for n, m in MIXES])
def test_every_mix_is_runnable_as_given(name: str, mix) -> None:
    w = default_registry().workload(mix.workload)
    params = build(w.params, mix.values(), origin=f"suite {name}")  # complete: a rate is set
    small = {**mix.values(), ("workload.requests" if mix.workload == "rpc"
                              else "workload.packets"): 600}
    stream = w.generate(build(w.params, small))
    validate(stream)
    assert params.seed == 1
    for mechanism in ("pv-split", "sriov"):
        m = run(mechanism, stream)
        assert m["packets"] == len(stream)
        assert m["throughput.pps"] > 0
