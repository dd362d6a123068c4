"""Registries: built-ins, third-party entry points, and declaration errors."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from codesign.errors import InputError
from codesign.harness import Point, evaluate
from codesign.params import param
from codesign.registry import (
    BUILTINS,
    Mechanism,
    Registry,
    Workload,
    _builtin,
    _entries,
    default_registry,
)
from workloads.walks import WORKLOAD as WALKS


def test_builtins_are_registered() -> None:
    registry = default_registry()
    assert "walks" in registry.workloads and "analytic-walk" in registry.mechanisms
    assert "noise" not in registry.workloads  # the test plugin is not installed by default


def test_the_builtin_index_is_what_the_modules_define() -> None:
    # the lazy built-ins name every entry where it is, and only there
    eager = Registry.of([e for t in BUILTINS for e in _entries(_builtin(t))])
    lazy = default_registry()
    assert list(lazy.workloads) == list(eager.workloads)
    assert list(lazy.mechanisms) == list(eager.mechanisms)
    for target, names in BUILTINS.items():
        assert tuple(sorted(e.name for e in _entries(_builtin(target)))) == names, target
    assert all(lazy.workload(n) is eager.workloads[n] for n in eager.workloads)
    assert all(lazy.mechanism(n) is eager.mechanisms[n] for n in eager.mechanisms)
    assert len(lazy.mechanisms) == len(eager.mechanisms) and "nested" in lazy.mechanisms


def test_a_run_imports_only_its_own_workload_and_mechanism(tmp_path: Path) -> None:
    code = ("import sys\n"
            "from codesign.harness import Point, evaluate\n"
            "evaluate(Point('random', 'nested', params={'workload.refs': 200, "
            "'hw.cost': False}))\n"
            "print(sorted(m for m in sys.modules if m.startswith(('codesign.net', "
            "'codesign.migration', 'workloads.packets', 'hwmodels.nic.model', "
            "'hwmodels.nic.ops'))))\n")  # (the NIC's parameters are in every hardware table)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "CODESIGN_CACHE": str(tmp_path)})
    assert out.stdout.strip() == "[]", out.stdout


def test_entry_point_plugin_registers_and_runs(plugin: Path) -> None:
    registry = default_registry()
    assert registry.workload("noise").kind == "noise"
    assert registry.mechanism("flaky").accepts == ("noise",)
    metrics = evaluate(Point("noise", "flaky", params={"workload.seed": 3, "flaky.scale": 2.0}))
    assert metrics["latency.p99_us"] > metrics["latency.p50_us"] > 0


def test_incompatible_kinds_are_refused(plugin: Path) -> None:
    with pytest.raises(InputError, match="mechanism 'flaky' takes workloads of kind noise; "
                       "workload 'walks' is 'walks'"):
        evaluate(Point("walks", "flaky"))


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(InputError, match="workload 'walks' is registered twice"):
        Registry.of([WALKS, WALKS])


def test_bad_declarations_fail_at_registration() -> None:
    @dataclass(frozen=True)
    class Bad:
        n: int = param(0, key="x.n", doc="entries", min=1)  # default out of its own range

    mechanism = Mechanism("bad", ("walks",), "", Bad, lambda *a: None)
    with pytest.raises(InputError, match=r"x\.n: expected an integer >= 1, got 0"):
        Registry.of([mechanism])


def test_mechanism_must_return_metrics() -> None:
    @dataclass(frozen=True)
    class NoParams:
        pass

    wrong = Mechanism("wrong", ("walks",), "", NoParams, lambda data, p, platform: {"a": 1},
                      costs=())
    registry = Registry.of([WALKS, wrong])
    with pytest.raises(TypeError, match=r"returned dict, not Metrics"):
        evaluate(Point("walks", "wrong"), registry)


def test_broken_plugin_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "broken_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[codesign.mechanisms]\nbroken = no_such_module:X\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    default_registry.cache_clear()
    try:
        with pytest.raises(InputError, match=r"entry point 'broken' .* failed to load: "
                           r"ModuleNotFoundError"):
            default_registry()
    finally:
        default_registry.cache_clear()


def test_workload_identity_replaces_parameters_in_the_key() -> None:
    from codesign.harness import resolve

    def identity(p):  # as a trace workload would: the content hash stands for the path
        return {"workload.seed": "content-hash"}

    traced = Workload("traced", "walks", "", WALKS.params, WALKS.generate, identity=identity)
    registry = Registry.of([traced, default_registry().mechanism("analytic-walk")])
    a = resolve(Point("traced", "analytic-walk", params={"workload.seed": 1}), registry)
    b = resolve(Point("traced", "analytic-walk", params={"workload.seed": 2}), registry)
    assert a.key == b.key and a.params["workload.seed"] == 1


def test_relative_trace_paths_resolve_against_the_spec_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip
    import shutil

    from codesign.harness import resolve

    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))
    study = tmp_path / "study"
    (study / "traces").mkdir(parents=True)
    data = Path(__file__).parent / "data" / "gzip_deflate.lackey.gz"
    with gzip.open(data, "rb") as src, open(study / "traces" / "t.lackey", "wb") as dst:
        shutil.copyfileobj(src, dst)
    monkeypatch.chdir(tmp_path)  # not the spec's folder

    @dataclass(frozen=True)
    class NoParams:
        pass

    lackey = default_registry().workload("lackey")
    count = Mechanism("count", ("memory",), "", NoParams, lambda *a: None)
    registry = Registry.of([lackey, count])
    point = Point("lackey", "count", params={"workload.path": "traces/t.lackey"},
                  base=str(study))
    resolved = resolve(point, registry)
    assert resolved.params["workload.path"] == str(study / "traces" / "t.lackey")
    moved = tmp_path / "elsewhere.lackey"
    shutil.copy(study / "traces" / "t.lackey", moved)
    assert resolve(Point("lackey", "count", params={"workload.path": str(moved)}),
                   registry).key == resolved.key  # keyed by content, wherever it lies
    with pytest.raises(InputError, match=r"traces/t\.lackey"):
        resolve(Point("lackey", "count", params={"workload.path": "traces/t.lackey"},
                      base=str(tmp_path)), registry)
