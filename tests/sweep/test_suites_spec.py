"""Suites in sweep specs: ``[workload] suite`` expands to one workload half per mix.

What a suite expands to (workloads, their parameters, the ``workload.mix`` label that is not
part of the key), how the spec's other ``workload.*`` values apply, the errors (one line naming
the file and the line), memory and packet suites in one namespace, the bundled ``mmu-suites``
and ``nic-suites`` specs, and a report that keeps two mixes of one workload apart.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from codesign.errors import InputError
from codesign.harness import Point, resolve
from codesign.report import analysis
from codesign.report.data import Objective, load
from codesign.sweep import spec as spec_module
from codesign.sweep.expand import Expansion, expand
from codesign.sweep.runner import run_sweep
from codesign.sweep.spec import MIX_KEY, all_suites, find_suite, load_spec, parse_spec
from workloads.memory.suites import SUITES, Suite, suite
from workloads.packets import suites as packet_suites


def spec(workload: dict, mechanism: object = "native", **sections: dict) -> dict:
    return {"version": 1, "name": "t", "workload": workload, "mechanism": {"name": mechanism},
            **sections}


def points(data: dict) -> Expansion:
    return expand(parse_spec(data))


def by_mix(e: Expansion) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in e.points:
        out.setdefault(r.params[MIX_KEY], []).append(r)
    return out


# --- what a suite expands to ----------------------------------------------------------------

def test_a_suite_is_one_workload_per_mix_with_the_mix_values() -> None:
    e = points(spec({"suite": "pt-update-heavy"}, ["native", "shadow"]))
    mixes = suite("pt-update-heavy").mixes
    assert len(e.points) == e.combinations == 2 * len(mixes)
    groups = by_mix(e)
    assert list(groups) == [f"pt-update-heavy/{m.label}" for m in mixes]
    for mix in mixes:
        for r in groups[f"pt-update-heavy/{mix.label}"]:
            assert r.workload.name == mix.workload
            assert mix.values().items() <= r.params.items()
            assert next(iter(r.params)) == MIX_KEY  # the label leads the stored parameters


def test_the_mix_label_is_not_part_of_the_key() -> None:
    e = points(spec({"suite": "switch-heavy"}))
    for r, mix in zip(e.points, suite("switch-heavy").mixes, strict=True):
        plain = resolve(Point(mix.workload, "native", params=mix.values()))
        assert (r.key, r.workload_key) == (plain.key, plain.workload_key)
        assert r.params == {MIX_KEY: f"switch-heavy/{mix.label}", **plain.params}
        assert r.record()["params"][MIX_KEY] == f"switch-heavy/{mix.label}"


def test_a_list_of_suites_and_the_other_axes_cross() -> None:
    e = points(spec({"suite": ["switch-heavy", "balanced"], "seed": [1, 2]},
                    ["native", "nested"]))
    labels = {r.params[MIX_KEY] for r in e.points}
    assert len(labels) == len(suite("switch-heavy").mixes) + len(suite("balanced").mixes)
    assert len(e.points) == len(labels) * 2 * 2
    assert {r.params["workload.seed"] for r in e.points} == {1, 2}


def test_spec_values_apply_to_the_mixes_that_declare_them_and_override_theirs() -> None:
    e = points(spec({"suite": "pt-update-heavy", "cycles": 50, "heap_pages": 32}))
    groups = by_mix(e)
    for label in ("pt-update-heavy/mmap-churn", "pt-update-heavy/mmap-churn-shootdowns"):
        [r] = groups[label]
        assert (r.params["workload.cycles"], r.params["workload.heap_pages"]) == (50, 32)
    [fork] = groups["pt-update-heavy/forkwait-big-heap"]
    assert "workload.cycles" not in fork.params  # forkwait does not declare it
    assert fork.params["workload.heap_pages"] == 32  # the spec's value over the mix's 2048
    assert fork.params["workload.child_pages"] == 16  # the mix's own value, not overridden


def test_mixes_made_equal_by_the_spec_are_one_point_with_the_first_label() -> None:
    e = points(spec({"suite": ["pt-update-heavy", "balanced"], "iterations": 10}))
    labels = [r.params[MIX_KEY] for r in e.points if r.workload.name == "forkwait"]
    # pt-update-heavy/forkwait and balanced/forkwait differ only in iterations
    assert labels == ["pt-update-heavy/forkwait", "pt-update-heavy/forkwait-big-heap"]
    assert e.duplicates == 1


def test_constraints_can_name_the_mix() -> None:
    e = points(spec({"suite": "switch-heavy"}, ["native", "nested"],
                    constraints={"require": ["workload.mix != 'switch-heavy/multi-vm' "
                                             "or mechanism == 'nested'"]}))
    assert sorted((r.params[MIX_KEY], r.mechanism.name) for r in e.points) == [
        ("switch-heavy/context-switch", "native"), ("switch-heavy/context-switch", "nested"),
        ("switch-heavy/multi-vm", "nested")]
    assert e.excluded == 1


def test_every_suite_expands_under_every_mmu_mechanism() -> None:
    names = [s.name for s in SUITES]
    e = points(spec({"suite": names}, ["native", "shadow", "pv-direct", "nested"]))
    assert len(e.points) == 4 * sum(len(s.mixes) for s in SUITES)
    assert e.duplicates == 0 and e.incompatible == 0


def test_the_bundled_mmu_suites_spec() -> None:
    path = Path(__file__).parents[2] / "codesign" / "specs" / "mmu-suites.toml"
    s = load_spec(path)
    assert s.name == "mmu-suites"
    e = expand(s)
    bundled = [x for x in SUITES if x.name != "steady-state"]  # that one is reports/mmu's
    assert len(e.points) == e.combinations == 4 * sum(len(x.mixes) for x in bundled)
    assert {r.mechanism.name for r in e.points} == {"native", "shadow", "pv-direct", "nested"}
    assert len({r.params[MIX_KEY] for r in e.points}) == sum(len(x.mixes) for x in bundled)
    assert set(s.report["metrics"]) == {"cycles_per_ref", "traps.total", "walk.refs_per_walk",
                                        "slowdown_vs_native"}


# --- packet suites: one namespace with the memory suites ------------------------------------

NIC = ["native-net", "emulated", "pv-split", "multiqueue", "sriov", "vhost"]


def test_memory_and_packet_suites_are_one_namespace() -> None:
    table = all_suites()
    assert list(table) == [s.name for s in SUITES] + [s.name for s in packet_suites.SUITES]
    assert table["small-packets"] is packet_suites.suite("small-packets")
    assert table["balanced"] is suite("balanced")  # the memory one; the packets' is balanced-net
    assert find_suite("balanced-net") is packet_suites.suite("balanced-net")


def test_a_suite_name_defined_twice_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    twin = Suite("balanced", "a packet suite named like a memory one", ())
    monkeypatch.setattr(packet_suites, "SUITES", (*packet_suites.SUITES, twin))
    with pytest.raises(InputError) as info:
        all_suites()
    assert str(info.value) == ("suite 'balanced' is defined twice: in workloads.memory.suites "
                               "and in workloads.packets.suites (suite names are one namespace)")


def test_a_packet_suite_expands_like_a_memory_one() -> None:
    e = points(spec({"suite": "latency", "seed": 3}, ["pv-split", "sriov"]))
    mixes = packet_suites.suite("latency").mixes
    assert len(e.points) == 2 * len(mixes)
    groups = by_mix(e)
    assert list(groups) == [f"latency/{m.label}" for m in mixes]
    for mix in mixes:
        for r in groups[f"latency/{mix.label}"]:
            assert r.workload.name == mix.workload
            assert mix.values().items() <= r.params.items()
            assert r.params["workload.seed"] == 3


def test_memory_and_packet_suites_mix_in_one_list() -> None:
    # Each mix goes to the mechanisms that take its kind of workload.
    e = points(spec({"suite": ["switch-heavy", "latency"]}, ["native", "pv-split"]))
    kinds = {(r.params[MIX_KEY].split("/")[0], r.mechanism.name) for r in e.points}
    assert kinds == {("switch-heavy", "native"), ("latency", "pv-split")}


def test_an_unknown_suite_gets_the_closest_across_both(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, 'suite = "small-packet"\n')
    assert message == f"{path}:6: unknown suite 'small-packet'; did you mean 'small-packets'?"
    path, message = load_error(tmp_path, 'suite = ["balanced", "balanced-nte"]\n')
    assert message == f"{path}:6: unknown suite 'balanced-nte'; did you mean 'balanced-net'?"


def test_the_bundled_nic_suites_spec() -> None:
    path = Path(spec_module.__file__).parents[1] / "specs" / "nic-suites.toml"
    s = load_spec(path)
    assert s.name == "nic-suites"
    e = expand(s)
    mixes = sum(len(x.mixes) for x in packet_suites.SUITES)
    assert len(e.points) == e.combinations == len(NIC) * mixes
    assert {r.mechanism.name for r in e.points} == set(NIC)
    assert {r.params[MIX_KEY].split("/")[0] for r in e.points} == set(
        packet_suites.suite_names())
    assert e.duplicates == 0 and e.incompatible == 0


def test_the_packet_suites_run_in_a_sweep(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # The bundled spec, its mixes scaled down: every point of every suite computes.
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))
    path = Path(spec_module.__file__).parents[1] / "specs" / "nic-suites.toml"
    text = path.read_text().replace('suite = [', 'packets = 600\nrequests = 300\nsuite = [')
    every = 'name = ["native-net", "emulated", "pv-split", "multiqueue", "sriov", "vhost"]'
    assert every in text
    text = text.replace(every, 'name = ["pv-split", "sriov"]\n[hardware]\n"hw.cost" = false')
    scaled = tmp_path / "nic-suites.toml"
    scaled.write_text(text)
    e = expand(load_spec(scaled))
    mixes = sum(len(x.mixes) for x in packet_suites.SUITES)
    assert len(e.points) + e.duplicates == 2 * mixes  # mixes the scaling made equal are one
    outcome = run_sweep(load_spec(scaled), tmp_path / "s.sqlite", executor="serial",
                        stream=io.StringIO())
    assert (outcome.computed, outcome.failed) == (len(e.points), 0)


# --- a report tells two mixes of one workload apart ------------------------------------------

def test_the_report_names_each_mix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))
    data = spec({"suite": "pt-update-heavy", "cycles": 20, "heap_pages": 16,
                 "refs_per_cycle": 4}, hardware={"hw.cost": False})
    store = tmp_path / "s.sqlite"
    outcome = run_sweep(parse_spec(data), store, executor="serial", stream=io.StringIO())
    assert (outcome.computed, outcome.failed) == (4, 0)
    report = load(store)
    labels = [r["workload"] for r in report.done]
    assert sorted(labels) == sorted(f"pt-update-heavy/{m.label}"
                                    for m in suite("pt-update-heavy").mixes)
    assert MIX_KEY not in report.params()  # the workload column shows it
    ranked = analysis.winners(report.done, Objective("cycles_per_ref"), "mechanism")
    assert sorted(w.workload for w in ranked) == sorted(labels)  # two forkwaits, two churns


# --- bad input: one line naming the file, the line and what was expected --------------------

HEAD = 'version = 1\nname = "t"\n[mechanism]\nname = "native"\n[workload]\n'


def load_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = tmp_path / "s.toml"
    path.write_text(HEAD + text)
    with pytest.raises(InputError) as info:
        expand(load_spec(path))
    message = str(info.value)
    assert "\n" not in message
    return path, message


def test_suite_and_name_exclude_each_other(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, 'name = "forkwait"\nsuite = "balanced"\n')
    assert message == (f"{path}:7: [workload] suite and a workload name in [workload] exclude "
                       "each other: a suite names its workloads")


def test_suite_and_a_zipped_workload_name_exclude_each_other(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, 'suite = "balanced"\n[[zip]]\nworkload = ["zipf"]\n'
                                         'seed = [1]\n')
    assert message == (f"{path}:6: [workload] suite and a workload name in [[zip]] exclude "
                       "each other: a suite names its workloads")


def test_an_unknown_suite_names_file_line_and_the_closest(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, 'seed = 3\nsuite = ["balanced", "tlb-heavy"]\n')
    assert message == f"{path}:7: unknown suite 'tlb-heavy'; did you mean 'tlb-miss-heavy'?"
    path, message = load_error(tmp_path, 'suite = "nothing-like-it"\n')
    assert message.startswith(f"{path}:6: unknown suite 'nothing-like-it' (known: "
                              "pt-update-heavy, tlb-miss-heavy, switch-heavy, steady-state, "
                              "balanced, small-packets, mtu-throughput, latency, multi-vm, "
                              "balanced-net)")


@pytest.mark.parametrize("value", ["3", "[]", '["balanced", 4]', '{ choice = ["balanced"] }'])
def test_a_suite_value_must_be_names(tmp_path: Path, value: str) -> None:
    path, message = load_error(tmp_path, f"suite = {value}\n")
    assert message.startswith(f"{path}:6: [workload] suite must be a suite name or a list of "
                              "suite names, got ")


def test_a_suite_listed_twice_is_an_error(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, 'suite = ["balanced", "balanced"]\n')
    assert message == f"{path}:6: suite 'balanced' is listed twice"


def test_a_key_no_mix_declares_is_an_error(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, 'suite = "pt-update-heavy"\nfootprint_mb = 64\n')
    assert message.startswith(f"{path}:7: unknown parameter 'workload.footprint_mb' for the "
                              "workloads of suite(s) pt-update-heavy (forkwait, mmap-churn)")


def test_a_bad_value_for_a_mix_parameter_names_its_line(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, 'suite = "switch-heavy"\nprocesses = 0\n')
    assert message.startswith(f"{path}:7: workload.processes: expected an integer from 1 to ")


def test_without_name_or_suite(tmp_path: Path) -> None:
    path, message = load_error(tmp_path, "seed = 1\n")
    assert message == f"{path}:5: [workload] needs a 'name' (one or a list) or a 'suite'"
