"""The SQLite store: refusing foreign files, concurrent writers, round trips."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from codesign.errors import InputError
from codesign.sweep.store import Result, Store

RECORD = {"workload": "w", "mechanism": "m", "platform": "p", "params": {"a.b": 1}}


def _write_many(path: str, prefix: str, count: int) -> None:
    with Store.open(path) as store:
        for i in range(count):
            store.put(Result(f"{prefix}{i}", "done", {"x": i, "y": i / 3}, None, None, 0.0),
                      {**RECORD, "params": {"i": i}})


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite")
    Store.open(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(path, p, 150)) for p in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with Store.open(path) as store:
        rows = list(store.rows())
    assert len(rows) == 450
    assert {r["key"] for r in rows} == {f"{p}{i}" for p in "abc" for i in range(150)}
    assert all(r["metrics"] == {"x": r["params"]["i"], "y": r["params"]["i"] / 3} for r in rows)


def test_round_trip_and_done_keys(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store.open(path) as store:
        store.put(Result("k1", "done", {"m.n": 0.1 + 0.2}, None, None, 0.5), RECORD)
        store.put(Result("k2", "failed", None, "ValueError: x", "tb", 0.1), RECORD)
        assert store.done_keys(["k1", "k2", "k3"]) == {"k1"}
    with Store.open(path, create=False) as store:
        rows = {r["key"]: r for r in store.rows()}
    assert rows["k1"]["metrics"] == {"m.n": 0.1 + 0.2}  # exact float
    assert rows["k2"]["status"] == "failed" and rows["k2"]["error"] == "ValueError: x"
    with Store.open(path) as store:  # a later success replaces the failure
        store.put(Result("k2", "done", {"m.n": 1}, None, None, 0.1), RECORD)
        assert store.done_keys(["k2"]) == {"k2"}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_refuses_files_that_are_not_stores(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database\n")
    with pytest.raises(InputError, match=r"notes.txt: not a codesign store \(not an SQLite"):
        Store.open(text)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(InputError, match="an SQLite database, but not a codesign store"):
        Store.open(other)
    with pytest.raises(InputError, match="no such store"):
        Store.open(tmp_path / "missing.sqlite", create=False)
    with pytest.raises(InputError, match="is a directory"):
        Store.open(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        Store.open(tmp_path / "no" / "dir.sqlite")
    assert text.read_text() == "hello, not a database\n"  # nothing was written over it


def test_corrupt_store(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 40)
    with pytest.raises(InputError, match=r"corrupt.sqlite: not a usable codesign store"):
        Store.open(path)


def test_a_batch_is_stored_whole_or_not_at_all(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk's results go in one transaction: a write that fails midway leaves none of
    them, and the batches before it stay."""
    with Store.open(tmp_path / "b.sqlite") as store:
        done = [Result(f"a{i}", "done", {"x": i}, None, None, 0.0) for i in range(3)]
        assert store.put_many([(r, RECORD) for r in done]) == [True] * 3
        put, calls = Store._put, []

        def failing(self: Store, result: Result, record: dict) -> bool:
            calls.append(result.key)
            if len(calls) == 2:
                raise sqlite3.OperationalError("database or disk is full")
            return put(self, result, record)

        monkeypatch.setattr(Store, "_put", failing)
        batch = [Result(f"b{i}", "done", {"x": i}, None, None, 0.0) for i in range(3)]
        with pytest.raises(sqlite3.OperationalError):
            store.put_many([(r, RECORD) for r in batch])
        monkeypatch.undo()
        assert store.done_keys([f"a{i}" for i in range(3)] + [f"b{i}" for i in range(3)]) \
            == {"a0", "a1", "a2"}


def test_a_specs_points_come_in_the_specs_order_whatever_order_they_finished_in(
        tmp_path: Path) -> None:
    """Reports read a spec's points in the order its sweep listed them, so a tie between
    equal values resolves the same whatever the executor or the number of workers."""
    class Spec:
        name, path, text = "s", "s.toml", ""

    keys = [f"k{i}" for i in range(6)]
    with Store.open(tmp_path / "s.sqlite") as store:
        store.begin_sweep(Spec(), "spec", keys, "local", 2)
        for k in [keys[i] for i in (4, 1, 5, 0, 3, 2)]:  # finished out of order
            store.put(Result(k, "done", {"x": 1}, None, None, 0.0), RECORD)
        assert [r["key"] for r in store.rows("spec")] == keys
        assert [r["key"] for r in store.rows()] == ["k4", "k1", "k5", "k0", "k3", "k2"]
