"""Sweep points that differ only in the data cache -- its LLC, its L2 and LLC, or anything
of it -- or, for the mechanisms whose replays take lanes, in the sizes of the TLBs, the
page-walk caches and the nested TLB too, evaluated in one pass (:mod:`codesign.mmu.onepass`):
every point's metrics are exactly those it has alone, for every mechanism that offers it,
native references and hardware costs included; a sweep groups such points by itself, and a
group it cannot take together is evaluated point by point."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from codesign.harness import Point, evaluate, resolve
from codesign.registry import default_registry
from codesign.sweep import executors
from codesign.sweep.executors import ONE_PASS_OFF_ENV, _evaluate_chunk, chunked
from codesign.sweep.runner import run_sweep
from codesign.sweep.spec import parse_spec

KIB, MIB = 1 << 10, 1 << 20
LLCS = [{"cache.llc.size": 0}, {"cache.llc.size": 256 * KIB, "cache.llc.ways": 16},
        {"cache.llc.size": MIB, "cache.llc.ways": 16}, {"cache.llc.size": MIB, "cache.llc.ways": 4},
        {"cache.llc.size": 4 * MIB, "cache.llc.ways": 16}]
L2S = [{"cache.l2.size": 0}, {"cache.l2.size": 64 * KIB, "cache.l2.ways": 4},
       {"cache.l2.size": 256 * KIB, "cache.l2.ways": 8},
       {"cache.l2.size": MIB, "cache.l2.ways": 16, "cache.llc.size": 4 * MIB},
       {"cache.l2.size": 256 * KIB, "cache.l2.ways": 8, "cache.llc.size": 0}]
"""L2 sizes (one pair with no L2, one with no LLC), two with the LLC changed too."""
WHOLE = [{}, {"cache.l1.size": 16 * KIB, "cache.l1.ways": 4},
         {"cache.placement": "uncoloured", "cache.placement_seed": 1},
         {"cache.placement": "uncoloured", "cache.placement_seed": 2},
         {"cache.inclusion": "inclusive"}]
"""Other L1s, placements and an inclusive LLC: each data cache run whole beside the first."""
ONE_PASS = ("native", "nested", "shadow", "pv-direct", "agile")
LANES = ("native", "nested", "pv-direct")
"""The mechanisms whose replays take lanes of other translation hardware."""
SIZES = [{}, {"tlb.l1.entries": 16, "tlb.l1.ways": 4},
         {"tlb.l1.entries": 128, "tlb.l1.ways": 8, "cache.llc.size": MIB},
         {"tlb.l2.entries": 256, "tlb.l2.ways": 4, "tlb.l2.2m": False},
         {"tlb.l2.entries": 0, "pwc.entries": 0}, {"pwc.nested.entries": 2, "ntlb.entries": 0},
         {"cache.l2.size": 128 * KIB, "cache.l2.ways": 8}]
"""TLB, second-level TLB, page-walk cache and nested TLB sizes, two with other data
caches, one with another data cache alone."""
PLATFORM = "modern-x86"
"""A platform with a non-inclusive LLC (kvm-nehalem's is inclusive: no one pass there)."""


def points(mechanism: str, workload: str = "random", caches: list[dict[str, int]] = LLCS,
           **extra: Any) -> list[Point]:
    base = {"hw.cost": False, "workload.refs": 8_000, "workload.footprint_mb": 4, **extra}
    if workload != "random":
        base = {"hw.cost": False, **extra}
    return [Point(workload, mechanism, PLATFORM, params={**base, **c}) for c in caches]


def chunk(pts: list[Point]) -> list[tuple[str, Point]]:
    return [(resolve(p).key, p) for p in pts]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the groups the sweep engine evaluated in one pass, as it goes: minus
    its size for a group one pass refused, nothing for a group that raised anything else
    (the engine hides such an error, evaluating the points one by one: the tests' counts
    then miss it)."""
    seen: list[int] = []
    real = executors.run_resolved_many

    def spy(group: Any, data: Any) -> Any:
        try:
            out = real(group, data)
        except ValueError:  # refused: the engine evaluates the points one by one
            seen.append(-len(group))
            raise
        seen.append(len(group))
        return out

    monkeypatch.setattr(executors, "run_resolved_many", spy)
    return seen


def test_the_mechanisms_that_offer_one_pass() -> None:
    reg = default_registry()
    offer = {name for name, m in reg.mechanisms.items() if m.run_many is not None}
    assert offer == set(ONE_PASS)
    cache = tuple(f"cache.{k}" for k in ("l1.size", "l1.ways", "l2.size", "l2.ways",
                                         "llc.size", "llc.ways", "line", "inclusion",
                                         "placement", "placement_seed"))
    sizes = {f"tlb.l1.{k}" for k in ("entries", "ways", "policy", "2m.entries", "2m.ways",
                                     "1g.entries", "1g.ways")} | {
        f"tlb.l2.{k}" for k in ("entries", "ways", "policy", "2m", "1g.entries",
                                "1g.ways")} | {"pwc.entries", "pwc.guest.entries",
                                              "pwc.nested.entries", "ntlb.entries",
                                              "ntlb.ways"}
    for n in ONE_PASS:
        keys = reg.mechanism(n).one_pass
        assert keys[:len(cache)] == cache
        assert set(keys[len(cache):]) == (sizes if n in LANES else set())


@pytest.mark.parametrize("mechanism", LANES)
@pytest.mark.parametrize("workload", ["random", "forkwait"])
def test_each_point_of_one_pass_over_translation_sizes_is_the_point_alone(
        mechanism: str, workload: str, calls: list[int]) -> None:
    extra = {"workload.iterations": 15} if workload == "forkwait" else {}
    pts = points(mechanism, workload, caches=SIZES, **extra)
    results = _evaluate_chunk(chunk(pts))
    assert calls == [len(pts)]
    assert [r.status for r in results] == ["done"] * len(pts)
    alone = [dict(evaluate(p)) for p in pts]
    assert [r.metrics for r in results] == alone
    assert len({m["cycles.total"] for m in alone}) >= 3  # the sizes mattered


def test_points_of_other_tlb_sizes_under_shadow_paging_are_replayed_one_by_one(
        calls: list[int]) -> None:
    """Shadow paging's hidden faults depend on which walks reach an unshadowed entry: its
    points of other TLB sizes are not grouped, and would be refused."""
    pts = points("shadow", caches=SIZES[:3])
    results = _evaluate_chunk(chunk(pts))
    assert calls == []
    assert [r.metrics for r in results] == [dict(evaluate(p)) for p in pts]


@pytest.mark.parametrize("mechanism", ONE_PASS)
def test_each_point_of_one_pass_is_the_point_alone(mechanism: str,
                                                   calls: list[int]) -> None:
    pts = points(mechanism)
    results = _evaluate_chunk(chunk(pts))
    assert calls == [len(pts)]
    assert [r.status for r in results] == ["done"] * len(pts)
    alone = [dict(evaluate(p)) for p in pts]
    assert [r.metrics for r in results] == alone
    assert len({m["cycles.total"] for m in alone}) >= len(pts) - 1  # the LLCs mattered


@pytest.mark.parametrize("mechanism", ONE_PASS)
@pytest.mark.parametrize("caches", [L2S, WHOLE], ids=["l2", "whole"])
def test_each_point_of_one_pass_over_l2_or_more_is_the_point_alone(
        mechanism: str, caches: list[dict[str, Any]], calls: list[int]) -> None:
    pts = points(mechanism, caches=caches)
    results = _evaluate_chunk(chunk(pts))
    assert calls == [len(pts)]
    assert [r.status for r in results] == ["done"] * len(pts)
    alone = [dict(evaluate(p)) for p in pts]
    assert [r.metrics for r in results] == alone
    # the caches mattered (inclusion may not, on so short a stream)
    assert len({m["cycles.total"] for m in alone}) >= len(pts) - 1


def test_kernel_work_warmup_and_hardware_costs() -> None:
    pts = [Point("forkwait", "nested", PLATFORM, params={"workload.iterations": 40,
                                               "measure.warmup": 0.3, **llc}) for llc in LLCS]
    results = _evaluate_chunk(chunk(pts))
    assert [r.metrics for r in results] == [dict(evaluate(p)) for p in pts]
    assert all("hw.area_mm2" in (r.metrics or {}) for r in results)
    pts = [Point("forkwait", "nested", PLATFORM, params={"workload.iterations": 40,
                                               "measure.warmup": 0.3, **c}) for c in L2S]
    results = _evaluate_chunk(chunk(pts))
    assert [r.metrics for r in results] == [dict(evaluate(p)) for p in pts]


def test_points_that_differ_elsewhere_are_not_taken_together(calls: list[int]) -> None:
    pts = points("native") + points("native", **{"guest.levels": 5})
    pts = [pts[i // 2 + (i % 2) * len(LLCS)] for i in range(2 * len(LLCS))]  # interleaved
    chunks = chunked([(k, p, resolve(p).workload_key) for k, p in chunk(pts)], jobs=1)
    # the interleaved points in two chunks, one a group
    assert [len({p.params.get("guest.levels") for _, p in c}) for c in chunks] == [1, 1]
    results = [r for c in chunks for r in _evaluate_chunk(c)]
    assert calls == [len(LLCS), len(LLCS)]
    by_key = {r.key: r.metrics for r in results}
    assert [by_key[k] for k, _ in chunk(pts)] == [dict(evaluate(p)) for p in pts]


def test_a_group_one_pass_refuses_is_evaluated_point_by_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(group: Any, data: Any) -> Any:
        raise ValueError("not together")

    monkeypatch.setattr(executors, "run_resolved_many", refuse)
    pts = points("shadow")
    results = _evaluate_chunk(chunk(pts))
    assert [r.metrics for r in results] == [dict(evaluate(p)) for p in pts]


def test_a_group_one_pass_fails_on_is_said_and_evaluated_point_by_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(group: Any, data: Any) -> Any:
        raise TypeError("a fault")

    monkeypatch.setattr(executors, "run_resolved_many", fail)
    pts = points("native")[:2]
    with pytest.warns(RuntimeWarning, match=r"one pass of 2 points failed \(TypeError: a "
                                            r"fault\); evaluating them one by one"):
        results = _evaluate_chunk(chunk(pts))
    assert [r.metrics for r in results] == [dict(evaluate(p)) for p in pts]


def test_one_pass_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(executors, "run_resolved_many", lambda g, d: calls.append(g))
    monkeypatch.setenv(ONE_PASS_OFF_ENV, "1")
    pts = points("native")[:2]
    results = _evaluate_chunk(chunk(pts))
    assert not calls and [r.status for r in results] == ["done", "done"]


def test_an_inclusive_llc_runs_each_data_cache_whole(calls: list[int]) -> None:
    pts = [Point("random", "native", params={"hw.cost": False, "workload.refs": 2_000,
                                             **llc}) for llc in LLCS[1:3]]  # kvm-nehalem
    results = _evaluate_chunk(chunk(pts))
    assert calls == [2]
    assert [r.metrics for r in results] == [dict(evaluate(p)) for p in pts]


def test_points_that_differ_beyond_the_data_cache_are_refused() -> None:
    from codesign.mmu.native import MECHANISM, NativeParams
    from codesign.platforms import load_platform
    from tests.mmu.conftest import stream

    ps = [NativeParams(), NativeParams(guest_levels=5)]
    with pytest.raises(ValueError, match=r"differ only in the data cache's"):
        MECHANISM.run_many(stream("random", refs=100), ps, load_platform("kvm-nehalem"))


def test_a_replay_that_takes_no_lanes_refuses_other_tlb_sizes() -> None:
    from codesign.mmu.shadow import MECHANISM, ShadowParams
    from codesign.platforms import load_platform
    from tests.mmu.conftest import stream

    ps = [ShadowParams(), ShadowParams(entries=32)]
    with pytest.raises(ValueError, match=r"decides by what its walks find"):
        MECHANISM.run_many(stream("random", refs=100), ps, load_platform("kvm-nehalem"))


def test_a_sweep_stores_the_same_in_one_pass_on_every_executor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spec over LLC sizes and first-level TLB sizes for two mechanisms: serial with one
    pass off, serial, and two local workers store the same points and metrics."""
    from tests.sweep.test_runner import content

    spec = parse_spec({"version": 1, "name": "llc",
                       "workload": {"name": "random", "refs": 6_000, "footprint_mb": 4},
                       "mechanism": {"name": ["nested", "shadow"]},
                       "platform": {"name": PLATFORM},
                       "hardware": {"cache.llc.size": [256 * KIB, MIB, 4 * MIB],
                                    "cache.l2.size": [128 * KIB, 256 * KIB],
                                    "tlb.l1.entries": [32, 64], "hw.cost": False}})
    stores = []
    # nested: its 12 points in one pass (lanes for the TLB sizes); shadow: a pass per TLB
    # size (its 6 data caches each)
    for label, executor, jobs, off, passes in (("off", "serial", 1, "1", (0, 0)),
                                               ("serial", "serial", 1, "", (24, 3)),
                                               ("local", "local", 2, "", (24, 3))):
        monkeypatch.setenv(ONE_PASS_OFF_ENV, off)
        store = tmp_path / f"{label}.sqlite"
        outcome = run_sweep(spec, store, executor=executor, jobs=jobs, stream=io.StringIO())
        assert outcome.failed == 0 and outcome.computed == 24
        assert (outcome.one_pass, outcome.passes) == passes, label
        stores.append(content(store))
    assert stores[1] == stores[0] and stores[2] == stores[0]


def test_a_sweep_says_how_many_of_its_points_ran_in_one_pass(tmp_path: Path) -> None:
    from tests.test_cli import call

    spec = tmp_path / "t.toml"
    spec.write_text('version = 1\nname = "t"\n[workload]\nname = "random"\nrefs = 2000\n'
                    'footprint_mb = 4\n[mechanism]\nname = ["nested", "shadow"]\n'
                    '[hardware]\n"hw.cost" = false\n"tlb.l1.entries" = [16, 32, 64]\n')
    status, out, _ = call("sweep", str(spec), "--store", str(tmp_path / "t.sqlite"),
                          "--executor", "serial", "--quiet")
    assert status == 0 and "computed 6 / reused 0 / failed 0" in out
    assert "  one pass: 3 of the computed points in 1 run of several points each" in out
    status, out, _ = call("sweep", str(spec), "--store", str(tmp_path / "t.sqlite"),
                          "--executor", "serial", "--quiet")
    assert status == 0 and "reused 6" in out and "one pass" not in out


def test_a_group_is_at_most_what_one_pass_runs() -> None:
    from hwmodels.cache.model import MAX_VARIANTS

    assert executors.GROUP_MAX == MAX_VARIANTS + 1
    # one group (the engine groups by the points as written; it resolves nothing here)
    pts = [(f"k{i}", Point("random", "native", PLATFORM, params={"cache.llc.size": i}), "w")
           for i in range(2 * executors.GROUP_MAX + 1)]
    assert [len(c) for c in chunked(pts, 1)] == [executors.GROUP_MAX] * 2 + [1]


def test_a_group_that_is_much_of_the_sweep_is_cut_into_a_run_per_job() -> None:
    """One group of 24 points on 4 jobs: four runs of 6, each one pass; with 8 groups of 3
    the groups stay whole (each worker already has groups to take)."""
    def pts(groups: int, each: int) -> list[tuple[str, Point, str]]:
        return [(f"k{g}-{i}", Point("random", "nested", PLATFORM, params={
            "guest.levels": 4 + g % 2, "workload.refs": 1000 + g,
            "tlb.l1.entries": 16 << i}), "w") for g in range(groups) for i in range(each)]

    one = chunked(pts(1, 24), 4)
    assert sorted(len(c) for c in one) == [6, 6, 6, 6]
    assert [len(c) for c in chunked(pts(1, 24), 1)] == [24]
    many = chunked(pts(8, 3), 4)
    assert all(len({k.split("-")[0] for k, _ in c}) == len(c) // 3 for c in many)
