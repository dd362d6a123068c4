"""Longest first (:mod:`codesign.sweep.schedule`): a sweep hands out its largest points first,
and what it stores does not depend on the order."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

from codesign.results import stored_rows
from codesign.sweep.runner import run_sweep
from codesign.sweep.schedule import BYTES_PER_ITEM, longest_first, work
from codesign.sweep.spec import parse_spec


def test_a_sweep_evaluates_its_largest_streams_first(tmp_path: Path) -> None:
    spec = parse_spec({"version": 1, "name": "order",
                       "workload": {"name": "random", "refs": [300, 3000, 1000],
                                    "seed": [1, 2]},
                       "mechanism": {"name": ["native", "nested"]},
                       "hardware": {"hw": {"cost": False}}})
    store = tmp_path / "s.sqlite"
    run_sweep(spec, store, executor="serial", stream=io.StringIO())
    refs = [r["params"]["workload.refs"] for r in stored_rows(store)]  # in evaluation order
    assert refs == sorted(refs, reverse=True) and len(refs) == 12


def test_a_file_counts_by_its_size_up_to_its_cap(tmp_path: Path) -> None:
    trace = tmp_path / "t.lackey"
    trace.write_bytes(b"x" * (BYTES_PER_ITEM * 500))
    assert work(SimpleNamespace(path=str(trace), max_refs=0)) == 500
    assert work(SimpleNamespace(path=str(trace), max_refs=20)) == 20
    assert work(SimpleNamespace(path=str(tmp_path / "gone"), max_refs=0)) == 1
    assert work(SimpleNamespace(refs=True, packets=-3, walks=7.0)) == 7


def test_equal_chunks_keep_their_order() -> None:
    assert longest_first([[1], [2], [3, 4]], {1: 2.0, 2: 2.0, 3: 1.0, 4: None}.get) == [
        [1], [2], [3, 4]]
