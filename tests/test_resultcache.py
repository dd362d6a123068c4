"""Pure results computed once per installation: hardware cost and the native reference come
back from the cache exactly as computed, and a damaged or foreign entry is never used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesign import hardware, resultcache
from codesign.harness import Point, evaluate
from codesign.mmu import native


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path))
    monkeypatch.delenv(resultcache.OFF_ENV, raising=False)
    resultcache._MEMORY.clear()
    hardware._cost_metrics.cache_clear()
    native._NATIVE_MEMO.clear()
    yield tmp_path / "results"
    resultcache._MEMORY.clear()
    hardware._cost_metrics.cache_clear()
    native._NATIVE_MEMO.clear()


def _entries(root: Path, kind: str) -> list[Path]:
    return sorted((root / kind).glob("*.json"))


def test_a_value_is_computed_once_and_read_back_exactly(cache: Path) -> None:
    calls = []

    def compute() -> dict[str, float]:
        calls.append(1)
        return {"x": 0.1 + 0.2, "n": 3, "pairs": [["a", 1e-300]]}

    first = resultcache.cached("k", {"p": 1}, compute)
    resultcache._MEMORY.clear()  # another process: only the file
    second = resultcache.cached("k", {"p": 1}, compute)
    assert first == second and second["x"] == 0.1 + 0.2 and len(calls) == 1
    resultcache.cached("k", {"p": 2}, compute)  # other inputs: another entry
    assert len(calls) == 2 and len(_entries(cache, "k")) == 2


@pytest.mark.parametrize("damage", ["truncate", "edit", "foreign"])
def test_a_damaged_entry_is_recomputed(cache: Path, damage: str) -> None:
    resultcache.cached("k", [1], lambda: {"v": 1.5})
    (path,) = _entries(cache, "k")
    entry = json.loads(path.read_text())
    if damage == "truncate":
        path.write_text(path.read_text()[:20])
    elif damage == "edit":  # a changed value no longer matches its checksum
        entry["value"]["v"] = 2.5
        path.write_text(json.dumps(entry))
    else:  # another entry's content under this name
        entry["key"] = "0" * 64
        path.write_text(json.dumps(entry))
    resultcache._MEMORY.clear()
    assert resultcache.cached("k", [1], lambda: {"v": 1.5}) == {"v": 1.5}
    assert json.loads(path.read_text())["value"] == {"v": 1.5}  # rewritten whole


def test_changed_source_makes_old_entries_unreachable(cache: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    resultcache.cached("k", [1], lambda: 1)
    monkeypatch.setattr(resultcache, "source_digest", lambda: "another source")
    resultcache._MEMORY.clear()
    assert resultcache.cached("k", [1], lambda: 2) == 2


def test_source_digest_covers_every_model_file() -> None:
    top = Path(resultcache.__file__).resolve().parent.parent
    files = [p for root in resultcache.ROOTS for p in (top / root).rglob("*.py")]
    assert any("hwmodels/tlb/rtl.py" in str(p) for p in files)
    assert len(resultcache.source_digest()) == 64


def test_hardware_cost_from_the_cache_equals_the_estimate(cache: Path) -> None:
    values = {"tlb.l1.entries": 8, "tlb.l1.ways": 4}
    computed = hardware.hardware_metrics("tlb", values, synth=False)
    hardware._cost_metrics.cache_clear()
    resultcache._MEMORY.clear()
    again = hardware.hardware_metrics("tlb", values, synth=False)
    assert again == computed and len(_entries(cache, "hw-cost")) == 1
    # A fresh estimate agrees to rounding only: PyRTL sums the area in an order that may
    # change between builds (its last bit did here), one more reason to compute it once.
    fresh = dict(hardware._estimate("tlb", hardware.block_params("tlb", values), False))
    assert dict(again) == pytest.approx(fresh, rel=1e-12)


def test_the_native_reference_is_shared_and_exact(cache: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"workload.refs": 20000, "hw.cost": False}

    def run_point(workload: str, mechanism: str, params: dict) -> dict:
        return dict(evaluate(Point(workload, mechanism, params=params)))

    first = run_point("random", "nested", params=params)
    assert len(_entries(cache, "native")) == 1
    native._NATIVE_MEMO.clear()
    resultcache._MEMORY.clear()
    calls = []
    real = native.replay
    monkeypatch.setattr(native, "replay", lambda *a: calls.append(1) or real(*a))
    shadow = run_point("random", "shadow", params=params)  # same workload and hardware
    assert calls == []  # the native run came from the cache
    monkeypatch.setenv(resultcache.OFF_ENV, "1")
    native._NATIVE_MEMO.clear()
    assert run_point("random", "shadow", params=params) == shadow  # computed: the same
    assert calls == [1]
    assert first["slowdown_vs_native"] > 1.0


def test_the_native_mechanisms_own_run_is_the_reference_of_the_others(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"workload.refs": 20000, "hw.cost": False}
    calls = []
    real = native.replay
    monkeypatch.setattr(native, "replay", lambda *a: calls.append(1) or real(*a))
    alone = dict(evaluate(Point("random", "native", params=params)))
    assert len(_entries(cache, "native")) == 1  # its cycles.total, kept as the reference
    shadow = dict(evaluate(Point("random", "shadow", params=params)))
    nested = dict(evaluate(Point("random", "nested", params=params)))
    assert calls == []  # neither replayed natively again
    monkeypatch.setenv(resultcache.OFF_ENV, "1")
    native._NATIVE_MEMO.clear()
    assert dict(evaluate(Point("random", "shadow", params=params))) == shadow
    native._NATIVE_MEMO.clear()
    assert dict(evaluate(Point("random", "nested", params=params))) == nested
    assert calls == [1, 1] and alone["slowdown_vs_native"] == 1.0  # computed: the same


def test_memory_keeps_the_entries_used_last_and_the_files_the_rest(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resultcache, "MEMORY_ENTRIES", 3)
    calls = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert [resultcache.cached("sq", x, lambda x=x: square(x)) for x in range(6)] == [
        0, 1, 4, 9, 16, 25]
    assert len(resultcache._MEMORY) == 3
    resultcache.cached("sq", 3, lambda: square(3))  # from memory
    assert resultcache.cached_many("sq", [0, 4, 5], lambda m: [square(i) for i in m]) == [
        0, 16, 25]
    assert calls == list(range(6))  # the ones no longer in memory came from their files
    assert len(resultcache._MEMORY) == 3 and len(_entries(cache, "sq")) == 6
