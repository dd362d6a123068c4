"""The result store: one SQLite file (WAL mode) holding every design point of a sweep.

One row per design point, keyed by the point's canonical hash; ``status`` is ``done`` or
``failed`` (with the error). Every completed point is committed as it arrives, so a killed
sweep loses nothing it finished, and a re-run skips what is done. WAL mode with a busy
timeout lets several writers (two sweeps sharing a store) and readers work at once.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "s.sqlite")
>>> with Store.open(path) as store:
...     store.put(Result("k1", "done", {"walks": 3}, None, None, 0.01),
...               {"workload": "walks", "mechanism": "m", "platform": "p", "params": {}})
...     store.done_keys(["k1", "k2"])
{'k1'}
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesign import __version__
from codesign.errors import InputError

STORE_FORMAT = "codesign-store"
SCHEMA_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    workload TEXT NOT NULL,
    mechanism TEXT NOT NULL,
    platform TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error TEXT,
    traceback TEXT,
    metrics TEXT,
    wall_s REAL,
    toolkit_version TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS platforms (
    key TEXT PRIMARY KEY,
    profile TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS point_platform (
    point TEXT PRIMARY KEY,
    platform TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    spec_path TEXT NOT NULL,
    spec_text TEXT NOT NULL,
    spec_key TEXT NOT NULL,
    executor TEXT,
    jobs INTEGER,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    points INTEGER,
    computed INTEGER,
    reused INTEGER,
    failed INTEGER,
    interrupted INTEGER,
    toolkit_version TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_points (
    spec_key TEXT NOT NULL,
    point TEXT NOT NULL,
    PRIMARY KEY (spec_key, point)
);
"""


@dataclass(frozen=True)
class Result:
    """The outcome of evaluating one point."""

    key: str
    status: str  # "done" | "failed"
    metrics: Mapping[str, float] | None
    error: str | None
    traceback: str | None
    wall_s: float


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


class Store:
    """An open result store. Use :meth:`open`; close it (or use ``with``)."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    @classmethod
    def open(cls, path: str | Path, create: bool = True) -> Store:
        """Open (or create) a store; InputError if the file is not a codesign store."""
        path = Path(path)
        if path.exists():
            if path.is_dir():
                raise InputError(f"{path}: is a directory, not a store file")
            try:
                with path.open("rb") as f:
                    head = f.read(len(_SQLITE_MAGIC))
            except OSError as exc:
                raise InputError(f"{path}: cannot read store: {exc.strerror}") from None
            if head != _SQLITE_MAGIC and not (head == b"" and create):
                raise InputError(f"{path}: not a codesign store (not an SQLite database)")
        elif not create:
            raise InputError(f"{path}: no such store")
        elif not path.parent.exists():
            raise InputError(f"{path}: folder {path.parent} does not exist")
        try:
            db = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
            db.execute("PRAGMA busy_timeout = 60000")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            db.execute("PRAGMA synchronous = NORMAL")
            store = cls(path, db)
            store._prepare(mode, create)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{path}: not a usable codesign store ({exc})") from None
        return store

    def _prepare(self, journal_mode: str, create: bool) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "meta" not in tables:
            if tables or not create:
                raise InputError(f"{self.path}: an SQLite database, but not a codesign store")
            with self.transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", [
                    ("format", STORE_FORMAT), ("schema", str(SCHEMA_VERSION)),
                    ("created_at", _now()), ("created_by", __version__),
                ])
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        if meta.get("format") != STORE_FORMAT:
            raise InputError(f"{self.path}: an SQLite database, but not a codesign store")
        if meta.get("schema") != str(SCHEMA_VERSION):
            raise InputError(f"{self.path}: store schema {meta.get('schema')} is not "
                             f"{SCHEMA_VERSION}, the one this toolkit reads")
        if journal_mode.lower() != "wal":
            raise InputError(f"{self.path}: cannot use WAL mode here (got {journal_mode}); "
                             "put the store on a local file system")

    def transaction(self) -> _Transaction:
        """``with store.transaction():`` — BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""
        return _Transaction(self._db)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------

    def begin_sweep(self, spec: Any, spec_key: str, keys: Iterable[str], executor: str,
                    jobs: int) -> int:
        """Record the start of a sweep run and which points belong to its spec."""
        with self.transaction():
            cursor = self._db.execute(
                "INSERT INTO sweeps (name, spec_path, spec_text, spec_key, executor, jobs, "
                "started_at, toolkit_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (spec.name, spec.path, spec.text, spec_key, executor, jobs, _now(), __version__))
            self._db.executemany("INSERT OR IGNORE INTO sweep_points VALUES (?, ?)",
                                 ((spec_key, k) for k in keys))
            return int(cursor.lastrowid)

    def finish_sweep(self, sweep_id: int, points: int, computed: int, reused: int, failed: int,
                     interrupted: bool) -> None:
        """Record how a sweep run ended."""
        with self.transaction():
            self._db.execute(
                "UPDATE sweeps SET finished_at=?, points=?, computed=?, reused=?, failed=?, "
                "interrupted=? WHERE id=?",
                (_now(), points, computed, reused, failed, int(interrupted), sweep_id))

    def put_platforms(self, pairs: Iterable[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Record (point key, platform key, profile) for provenance."""
        pairs = list(pairs)
        with self.transaction():
            self._db.executemany("INSERT OR IGNORE INTO platforms VALUES (?, ?)",
                                 {(p, json.dumps(prof, sort_keys=True)) for _, p, prof in pairs})
            self._db.executemany("INSERT OR REPLACE INTO point_platform VALUES (?, ?)",
                                 ((k, p) for k, p, _ in pairs))

    def put(self, result: Result, record: Mapping[str, Any]) -> None:
        """Store one result, committed at once (a crash after this loses nothing of it)."""
        metrics = json.dumps(dict(result.metrics), sort_keys=True) if result.metrics else None
        with self.transaction():
            self._db.execute(
                "INSERT INTO points (key, workload, mechanism, platform, params, status, error, "
                "traceback, metrics, wall_s, toolkit_version, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "workload=excluded.workload, mechanism=excluded.mechanism, "
                "platform=excluded.platform, params=excluded.params, status=excluded.status, "
                "error=excluded.error, traceback=excluded.traceback, metrics=excluded.metrics, "
                "wall_s=excluded.wall_s, toolkit_version=excluded.toolkit_version, "
                "finished_at=excluded.finished_at",
                (result.key, record["workload"], record["mechanism"], record["platform"],
                 json.dumps(record["params"], sort_keys=True), result.status, result.error,
                 result.traceback, metrics, result.wall_s, __version__, _now()))

    # -- reading -------------------------------------------------------------------------

    def done_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are stored as done."""
        done = {r[0] for r in self._db.execute("SELECT key FROM points WHERE status = 'done'")}
        return done.intersection(keys)

    def rows(self, spec_key: str | None = None) -> Iterator[dict[str, Any]]:
        """Every stored point (or those of one spec), oldest first, as plain dicts."""
        query = ("SELECT p.key, p.workload, p.mechanism, p.platform, p.params, p.status, "
                 "p.error, p.metrics, p.wall_s, p.toolkit_version, p.finished_at FROM points p")
        args: tuple[Any, ...] = ()
        if spec_key is not None:
            query += " JOIN sweep_points s ON s.point = p.key WHERE s.spec_key = ?"
            args = (spec_key,)
        for row in self._db.execute(query + " ORDER BY p.rowid", args):
            (key, workload, mechanism, platform, params, status, error, metrics, wall_s,
             version, finished) = row
            yield {"key": key, "workload": workload, "mechanism": mechanism,
                   "platform": platform, "params": json.loads(params), "status": status,
                   "error": error, "metrics": json.loads(metrics) if metrics else {},
                   "wall_s": wall_s, "toolkit_version": version, "finished_at": finished}

    def sweeps(self) -> list[dict[str, Any]]:
        """Every sweep run recorded, oldest first."""
        cursor = self._db.execute("SELECT * FROM sweeps ORDER BY id")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def platforms(self) -> dict[str, dict[str, Any]]:
        """Platform profiles used by stored points, by platform key."""
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, profile FROM platforms")}

    def point_platforms(self) -> dict[str, str]:
        """Point key -> platform key."""
        return dict(self._db.execute("SELECT point, platform FROM point_platform"))


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if kind else "COMMIT")
