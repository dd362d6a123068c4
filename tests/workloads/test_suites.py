"""Named suites: every mix runs, and each suite has the character its documentation claims."""

from __future__ import annotations

import pytest

from codesign.errors import InputError
from codesign.params import build
from codesign.registry import default_registry
from workloads.memory.events import Counts, summarize, validate
from workloads.memory.suites import SUITES, suite, suite_names

STLB_ENTRIES = 1536  # ChampSim's default STLB, the reach the TLB-miss suite must exceed


def counts(name: str) -> list[Counts]:
    registry = default_registry()
    out = []
    for mix in suite(name).mixes:
        w = registry.workload(mix.workload)
        ev = w.generate(build(w.params, mix.values(), origin=f"suite {name}"))
        validate(ev)
        out.append(summarize(ev))
    return out


def test_names_are_unique_and_mixes_name_memory_workloads() -> None:
    assert len(set(suite_names())) == len(SUITES) >= 3
    registry = default_registry()
    for s in SUITES:
        assert s.summary and s.mixes
        for mix in s.mixes:
            assert registry.workload(mix.workload).kind == "memory"
            assert all(k.startswith("workload.") for k in mix.values())


def test_mix_labels_tell_the_mixes_of_a_suite_apart() -> None:
    for s in SUITES:
        labels = [m.label for m in s.mixes]
        assert len(set(labels)) == len(labels), s.name
        assert all(m.label.startswith(m.workload) for m in s.mixes)
        assert len({(m.workload, m.params) for m in s.mixes}) == len(s.mixes)  # distinct points


def test_pt_update_heavy_has_an_update_per_hundred_references() -> None:
    for c in counts("pt-update-heavy"):
        assert c.updates * 100 >= c.accesses, c


def test_tlb_miss_heavy_outruns_the_tlb_and_reuses_little() -> None:
    for c in counts("tlb-miss-heavy"):
        assert c.touched_pages >= 8 * STLB_ENTRIES, c
        assert c.touched_pages * 10 > c.accesses, c
        assert c.updates == 1  # the one mmap


def test_switch_heavy_switches_at_least_every_five_thousand_references() -> None:
    for c in counts("switch-heavy"):
        assert (c.switches + c.vm_switches) * 5000 >= c.accesses, c


def test_balanced_mixes_every_kind_of_behaviour() -> None:
    cs = counts("balanced")
    assert any(c.forks for c in cs) and any(c.unmaps for c in cs)
    assert any(c.switches > 1 for c in cs)
    assert any(c.touched_pages > STLB_ENTRIES for c in cs)


def test_unknown_suite_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match="unknown suite 'nope' \\(known: pt-update-heavy, "):
        suite("nope")


def test_steady_state_references_its_tlb_bound_footprints_tens_of_times() -> None:
    cs = dict(zip([m.label for m in suite("steady-state").mixes], counts("steady-state"),
                  strict=True))
    for label in ("random-gups-32m", "pointer-chase-32m", "zipf-64m"):
        c = cs[label]
        assert c.touched_pages >= 5 * STLB_ENTRIES, (label, c)
        assert c.accesses >= 20 * c.touched_pages, (label, c)
    assert cs["forkwait"].forks == 150
    light, heavy = cs["mmap-churn-light"], cs["mmap-churn-heavy"]
    assert heavy.updates * 100 >= heavy.accesses > 0
    assert light.updates * 100 < light.accesses
