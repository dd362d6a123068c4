"""The result store: one SQLite file (WAL mode) holding every design point of a sweep.

One row per design point, keyed by the point's canonical hash; ``status`` is ``done`` or
``failed`` (with the error). Every completed point is committed as it arrives, so a killed
sweep loses nothing it finished, and a re-run skips what is done. WAL mode with a busy
timeout lets several writers (two sweeps sharing a store) and readers work at once.

A failure never replaces a done result: a recomputation (``--force``) that fails keeps the
earlier metrics and is recorded in the ``attempts`` table instead, so ``--force`` is safe
to interrupt or kill. Readers (:meth:`Store.open_readonly`) need no write access to the
store or its folder.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "s.sqlite")
>>> with Store.open(path) as store:
...     record = {"workload": "walks", "mechanism": "m", "platform": "p", "params": {}}
...     store.put(Result("k1", "done", {"walks": 3}, None, None, 0.01), record)
...     store.put(Result("k1", "failed", None, "Boom", None, 0.01), record)  # kept done
...     store.done_keys(["k1", "k2"]), len(store.attempts("k1"))
True
False
({'k1'}, 1)
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import sqlite3
import urllib.parse
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

_ATTEMPTS = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    error TEXT,
    traceback TEXT,
    wall_s REAL,
    toolkit_version TEXT NOT NULL,
    finished_at TEXT NOT NULL
)"""
"""Every failed evaluation is also an ``attempts`` row: the record of a failure that did not
replace a done result. The table is additive (stores made before it get it when next opened
for writing), so the schema version stays 1."""


@dataclass(frozen=True)
class Result:
    """The outcome of evaluating one point."""

    key: str
    status: str  # "done" | "failed"
    metrics: Mapping[str, float] | None
    error: str | None
    traceback: str | None
    wall_s: float
    together: int = 1
    """Points evaluated in the same pass as this one, itself included (1: on its own;
    :mod:`codesign.mmu.onepass`). Not stored: what a run did, not what the point is."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _why(exc: BaseException) -> str:
    """The reason in an OS or SQLite error, as a user reads it."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def _os_check(path: Path) -> None:
    """InputError for a store path the OS will refuse, before SQLite says it obscurely."""
    if len(os.fsencode(path.name)) > 255:
        raise InputError(f"{str(path)[:80]}...: file name too long "
                         f"({len(os.fsencode(path.name))} bytes; at most 255)")


def store_error(path: Path, exc: BaseException, doing: str) -> InputError:
    """The one-line error for a store that cannot be written (read-only, disk full...).

    >>> str(store_error(Path("s.sqlite"), sqlite3.OperationalError("database or disk is full"),
    ...                 "store a result"))
    's.sqlite: cannot store a result: database or disk is full; the points stored before are kept'
    """
    why = _why(exc)
    if (isinstance(exc, OSError) and exc.errno == errno.EACCES) or "readonly" in why:
        why += " (the store or its folder is read-only?)"
    return InputError(f"{path}: cannot {doing}: {why}; the points stored before are kept")


class Store:
    """An open result store. Use :meth:`open`; close it (or use ``with``)."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    @classmethod
    def open(cls, path: str | Path, create: bool = True) -> Store:
        """Open (or create) a store for writing; InputError if the file is not a codesign
        store, or cannot be opened for writing (with the reason)."""
        path = Path(path)
        _os_check(path)
        if path.exists():
            cls._check_head(path, create)
            if not os.access(path, os.R_OK | os.W_OK):
                raise InputError(f"{path}: cannot write to the store: permission denied "
                                 "(codesign results and codesign report can still read it)")
        elif not create:
            raise InputError(f"{path}: no such store")
        elif not path.parent.exists():
            raise InputError(f"{path}: folder {path.parent} does not exist")
        elif not path.parent.is_dir():
            raise InputError(f"{path}: {path.parent} is not a folder")
        elif not os.access(path.parent, os.W_OK | os.X_OK):
            raise InputError(f"{path}: cannot create the store: permission denied in "
                             f"folder {path.parent}")
        try:
            db = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise InputError(f"{path}: cannot open the store: {_why(exc)}") from None
        try:
            db.execute("PRAGMA busy_timeout = 60000")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            db.execute("PRAGMA synchronous = NORMAL")
            store = cls(path, db)
            store._prepare(mode, create)
        except sqlite3.DatabaseError as exc:
            db.close()
            if _unwritable(exc):
                raise InputError(f"{path}: cannot write to the store: {_why(exc)} (use "
                                 "codesign results/report to read it, or another --store)"
                                 ) from None
            raise InputError(f"{path}: not a usable codesign store ({exc})") from None
        except BaseException:
            db.close()
            raise
        return store

    @classmethod
    def open_readonly(cls, path: str | Path) -> Store:
        """Open an existing store for reading only: neither the file nor its folder needs
        write access, and nothing is written (readers of a store on a read-only medium, or
        someone else's store).

        >>> Store.open_readonly("/nonexistent/s.sqlite")
        Traceback (most recent call last):
        codesign.errors.InputError: /nonexistent/s.sqlite: no such store
        """
        path = Path(path)
        _os_check(path)
        if not path.exists():
            raise InputError(f"{path}: no such store")
        cls._check_head(path, create=False)
        uri = "file:" + urllib.parse.quote(str(path.absolute())) + "?mode=ro"
        db = None
        try:
            try:
                db = sqlite3.connect(uri, uri=True, timeout=60.0, isolation_level=None)
                db.execute("SELECT name FROM sqlite_master").fetchall()
            except sqlite3.OperationalError:
                # A WAL database in a folder this user cannot write: SQLite cannot make its
                # shared-memory index. With no log left behind, reading the file alone is
                # exact; with one, it would miss committed points.
                if db is not None:
                    db.close()
                wal = path.with_name(path.name + "-wal")
                if wal.exists() and wal.stat().st_size > 0:
                    raise InputError(f"{path}: cannot read the store: its write-ahead log "
                                     f"{wal.name} is not merged and the folder is not "
                                     "writable; copy the store, its -wal and -shm files to "
                                     "a writable folder") from None
                db = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None)
            store = cls(path, db)
            store._prepare("wal", create=False)
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            raise InputError(f"{path}: not a usable codesign store ({exc})") from None
        except BaseException:
            if db is not None:
                db.close()
            raise
        return store

    @staticmethod
    def _check_head(path: Path, create: bool) -> None:
        if path.is_dir():
            raise InputError(f"{path}: is a directory, not a store file")
        if not path.is_file():
            raise InputError(f"{path}: not a regular file, not a codesign store")
        try:
            with path.open("rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise InputError(f"{path}: cannot read store: {exc.strerror}") from None
        if head != _SQLITE_MAGIC and not (head == b"" and create):
            raise InputError(f"{path}: not a codesign store (not an SQLite database)")

    def _prepare(self, journal_mode: str, create: bool) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "meta" not in tables:
            if tables or not create:
                raise InputError(f"{self.path}: an SQLite database, but not a codesign store")
            with self.transaction():
                for statement in (*_SCHEMA.split(";"), _ATTEMPTS):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", [
                    ("format", STORE_FORMAT), ("schema", str(SCHEMA_VERSION)),
                    ("created_at", _now()), ("created_by", __version__),
                ])
        elif create and "attempts" not in tables:  # a store made before attempts were kept
            self._db.execute(_ATTEMPTS)
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

    def put(self, result: Result, record: Mapping[str, Any]) -> bool:
        """Store one result, committed at once (a crash after this loses nothing of it).

        A failed result never replaces a done one: the done row stays and the failure is
        only recorded in ``attempts``. Returns whether the point's row now holds ``result``.
        """
        return self.put_many([(result, record)])[0]

    def put_many(self, batch: Iterable[tuple[Result, Mapping[str, Any]]]) -> list[bool]:
        """Store results in one transaction (a worker's chunk: one commit for all of them,
        and a crash loses at most the batch being written); as :meth:`put` for each."""
        with self.transaction():
            return [self._put(result, record) for result, record in batch]

    def _put(self, result: Result, record: Mapping[str, Any]) -> bool:
        metrics = json.dumps(dict(result.metrics), sort_keys=True) if result.metrics else None
        now = _now()
        cursor = self._db.execute(
            "INSERT INTO points (key, workload, mechanism, platform, params, status, error, "
            "traceback, metrics, wall_s, toolkit_version, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "workload=excluded.workload, mechanism=excluded.mechanism, "
            "platform=excluded.platform, params=excluded.params, status=excluded.status, "
            "error=excluded.error, traceback=excluded.traceback, metrics=excluded.metrics, "
            "wall_s=excluded.wall_s, toolkit_version=excluded.toolkit_version, "
            "finished_at=excluded.finished_at "
            "WHERE excluded.status = 'done' OR points.status != 'done'",
            (result.key, record["workload"], record["mechanism"], record["platform"],
             json.dumps(record["params"], sort_keys=True), result.status, result.error,
             result.traceback, metrics, result.wall_s, __version__, now))
        if result.status != "done":
            self._db.execute(
                "INSERT INTO attempts (key, error, traceback, wall_s, toolkit_version, "
                "finished_at) VALUES (?, ?, ?, ?, ?, ?)",
                (result.key, result.error, result.traceback, result.wall_s, __version__,
                 now))
        return cursor.rowcount > 0

    # -- reading -------------------------------------------------------------------------

    def done_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are stored as done."""
        done = {r[0] for r in self._db.execute("SELECT key FROM points WHERE status = 'done'")}
        return done.intersection(keys)

    def rows(self, spec_key: str | None = None) -> Iterator[dict[str, Any]]:
        """Every stored point, oldest first, or those of one spec in the spec's own order
        (the order its sweep listed them, not the order they finished in, which depends on
        the executor and the number of workers), as plain dicts."""
        query = ("SELECT p.key, p.workload, p.mechanism, p.platform, p.params, p.status, "
                 "p.error, p.metrics, p.wall_s, p.toolkit_version, p.finished_at FROM points p")
        args: tuple[Any, ...] = ()
        order = " ORDER BY p.rowid"
        if spec_key is not None:
            query += " JOIN sweep_points s ON s.point = p.key WHERE s.spec_key = ?"
            args = (spec_key,)
            order = " ORDER BY s.rowid"
        for row in self._db.execute(query + order, args):
            (key, workload, mechanism, platform, params, status, error, metrics, wall_s,
             version, finished) = row
            yield {"key": key, "workload": workload, "mechanism": mechanism,
                   "platform": platform, "params": json.loads(params), "status": status,
                   "error": error, "metrics": json.loads(metrics) if metrics else {},
                   "wall_s": wall_s, "toolkit_version": version, "finished_at": finished}

    def attempts(self, key: str | None = None) -> list[dict[str, Any]]:
        """Failed evaluations recorded (of one point, or all), oldest first."""
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "attempts" not in tables:  # a store made before attempts were kept
            return []
        query = "SELECT key, error, traceback, wall_s, toolkit_version, finished_at FROM attempts"
        args: tuple[Any, ...] = ()
        if key is not None:
            query += " WHERE key = ?"
            args = (key,)
        cursor = self._db.execute(query + " ORDER BY id", args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

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


def _unwritable(exc: BaseException) -> bool:
    """Whether an SQLite error says the store cannot be written (rather than is damaged)."""
    text = str(exc).lower()
    return any(w in text for w in ("readonly", "read-only", "unable to open", "disk i/o",
                                   "disk is full", "permission"))


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if kind else "COMMIT")
