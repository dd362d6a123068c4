"""The local executor's driver is one of its ``--jobs`` processes: it evaluates from the
back of the queue from the start, while ``jobs - 1`` workers start and take the front, so a
short sweep is not slowed by workers it does not need (issue 15 item 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codesign.sweep import executors
from codesign.sweep.executors import chunked, run_local, run_serial
from codesign.sweep.expand import expand
from codesign.sweep.spec import parse_spec
from codesign.sweep.store import Result


def _chunks(spec: dict[str, Any], jobs: int) -> list[list[tuple[str, Any]]]:
    expansion = expand(parse_spec(spec))
    return chunked([(p.key, p.point, p.workload_key) for p in expansion.points], jobs)


WALKS = {"version": 1, "name": "w",
         "workload": {"name": "walks", "walks": 200, "seed": {"range": [1, 6]}},
         "mechanism": {"name": "analytic-walk"},
         "hardware": {"guest": {"levels": [4, 5]}}}


def _metrics(batches: list[list[Result]]) -> dict[str, Any]:
    return {r.key: (r.status, r.metrics) for batch in batches for r in batch}


def _driver_chunks(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[str, Any]]]:
    """The chunks the driver evaluates itself, recorded as it takes them."""
    taken: list[list[tuple[str, Any]]] = []
    run = executors._in_thread

    def spy(fn: Any, chunk: list[tuple[str, Any]]) -> Any:
        taken.append(chunk)
        return run(fn, chunk)

    monkeypatch.setattr(executors, "_in_thread", spy)
    return taken


def test_one_job_is_the_driver_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("one job started a worker process")

    monkeypatch.setattr(executors, "ProcessPoolExecutor", no_pool)
    chunks = _chunks(WALKS, 1)
    got: list[list[Result]] = []
    run_local(chunks, got.append, 1)
    serial: list[list[Result]] = []
    run_serial(chunks, serial.append)
    assert _metrics(got) == _metrics(serial)
    assert len(got) == len(chunks)


def test_the_driver_starts_at_once_from_the_back(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = _driver_chunks(monkeypatch)
    sizes: list[int] = []
    pool = executors.ProcessPoolExecutor

    def counted(max_workers: int, **kwargs: Any) -> Any:
        sizes.append(max_workers)
        return pool(max_workers=max_workers, **kwargs)

    monkeypatch.setattr(executors, "ProcessPoolExecutor", counted)
    chunks = _chunks(WALKS, 2)
    assert len(chunks) > 2
    got: list[list[Result]] = []
    run_local(chunks, got.append, 2)
    assert taken and taken[0] == chunks[-1]  # before any worker could start
    assert sizes == [1]  # two jobs: the driver and one worker
    keys = [r.key for batch in got for r in batch]
    assert sorted(keys) == sorted(k for c in chunks for k, _ in c)  # each stored once
    serial: list[list[Result]] = []
    run_serial(chunks, serial.append)
    assert _metrics(got) == _metrics(serial)


def test_a_long_sweep_shares_the_work_with_its_workers(plugin: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    taken = _driver_chunks(monkeypatch)
    spec = {"version": 1, "name": "slow",
            "workload": {"name": "noise", "n": 50, "seed": {"range": [0, 15]}},
            "mechanism": {"name": "flaky", "flaky.sleep_ms": 400}}
    chunks = _chunks(spec, 3)
    got: list[list[Result]] = []
    run_local(chunks, got.append, 3)
    keys = [r.key for batch in got for r in batch]
    assert sorted(keys) == sorted(k for c in chunks for k, _ in c)
    assert all(r.status == "done" for batch in got for r in batch)
    # 16 points of 0.4 s: the workers are up long before the driver could do them all
    by_driver = {k for c in taken for k, _ in c}
    assert 0 < len(by_driver) < len(keys)


def test_a_workload_is_not_split_over_chunks_when_it_fits_in_one() -> None:
    # 192 seeds x 2 TLB sizes (no one-pass key): at 16 jobs a chunk holds up to 3 points,
    # and a chunk of 3 would cut a seed's pair in two (its stream and native reference
    # then made by two workers at once).
    spec = {"version": 1, "name": "pairs",
            "workload": {"name": "random", "refs": 1000, "seed": {"range": [1, 192]}},
            "mechanism": {"name": "nested"},
            "hardware": {"tlb": {"l1": {"entries": [32, 64]}}}}
    expansion = expand(parse_spec(spec))
    workload = {p.key: p.workload_key for p in expansion.points}
    for jobs in (1, 2, 4, 16):
        chunks = _chunks(spec, jobs)
        holder: dict[str, set[int]] = {}
        for i, c in enumerate(chunks):
            for k, _ in c:
                holder.setdefault(workload[k], set()).add(i)
        assert len(holder) == 192 and all(len(h) == 1 for h in holder.values()), jobs
        assert sorted(k for c in chunks for k, _ in c) == sorted(workload)
