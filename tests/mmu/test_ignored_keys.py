"""A mechanism's ``ignores``: the keys it declares through a shared parameter class but
never reads. Changing one changes none of its metrics, and it is not listed for it."""

from __future__ import annotations

import pytest

from codesign.harness import Point, evaluate
from codesign.registry import default_registry
from tests.test_cli import call

OTHER = {"host.levels": 5, "pwc.nested.entries": 8, "ntlb.entries": 32, "ntlb.ways": 8}
WORKLOADS = {
    "forkwait": {"workload.iterations": 4},
    "mmap-churn": {"workload.cycles": 12},
    "random": {"workload.refs": 20000, "workload.footprint_mb": 64},
    "multi-vm": {"workload.refs": 20000},
}
IGNORING = [m.name for m in default_registry().mechanisms.values() if m.ignores]


def test_the_one_dimensional_mechanisms_ignore_the_nested_dimension() -> None:
    assert set(IGNORING) >= {"native", "shadow", "pv-direct"}
    assert "nested" not in IGNORING and "selective" not in IGNORING


@pytest.mark.parametrize("mechanism", IGNORING)
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_an_ignored_key_changes_no_metric(mechanism: str, workload: str) -> None:
    base = {**WORKLOADS[workload], "hw.cost": False}
    entry = default_registry().mechanism(mechanism)
    reference = evaluate(Point(workload, mechanism, params=base))
    for key in entry.ignores:
        changed = evaluate(Point(workload, mechanism, params={**base, key: OTHER[key]}))
        assert changed == reference, (mechanism, workload, key)


def test_ignored_keys_are_not_listed() -> None:
    _, out, _ = call("list", "params", "shadow")
    for key in OTHER:
        assert f"    {key} " not in out
    assert "    pwc.guest.entries " in out and "    guest.levels " in out
    _, out, _ = call("list", "params", "nested")
    assert "    ntlb.entries " in out and "    host.levels " in out
