"""Running a sweep: expand, skip what the store has, evaluate the rest, store as it comes.

>>> import tempfile, os, io
>>> from codesign.sweep.spec import parse_spec
>>> spec = parse_spec({"version": 1, "name": "t", "workload": {"name": "walks"},
...                    "mechanism": {"name": "analytic-walk", "virtualized": [False, True]}})
>>> store = os.path.join(tempfile.mkdtemp(), "t.sqlite")
>>> first = run_sweep(spec, store, executor="serial", stream=io.StringIO())
>>> again = run_sweep(spec, store, executor="serial", stream=io.StringIO())
>>> (first.computed, first.reused), (again.computed, again.reused)
((2, 0), (0, 2))
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TextIO

from codesign.errors import InputError
from codesign.harness import digest
from codesign.sweep.executors import (
    EXECUTORS,
    cap_jobs,
    check_scheduler,
    chunked,
    run_dask,
    run_local,
    run_serial,
)
from codesign.sweep.expand import Expansion, describe, expand
from codesign.sweep.progress import Progress
from codesign.sweep.schedule import longest_first, work
from codesign.sweep.spec import SweepSpec
from codesign.sweep.store import Result, Store, store_error


@dataclass
class Outcome:
    """What a sweep run did."""

    store: Path
    points: int
    computed: int = 0
    reused: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # key, point, error
    interrupted: bool = False
    kept: int = 0
    """Failed recomputations (``force``) whose earlier done result was kept."""
    store_error: str | None = None
    """Why the sweep stopped early because the store could not be written (disk full,
    read-only): every point stored before that is kept."""
    one_pass: int = 0
    """Computed points evaluated together with others, in one pass (:attr:`Result.together`)."""
    passes: Fraction = Fraction(0)
    """How many such passes: each of their points adds ``1 / together``."""

    @property
    def failed(self) -> int:
        """Points that failed in this run."""
        return len(self.failures)


def default_store(spec: SweepSpec) -> Path:
    """Where a sweep's results go when ``--store`` is not given: ``./<name>.sqlite``."""
    return Path.cwd() / f"{spec.name}.sqlite"


def default_jobs() -> int:
    """Worker count when none is given: the CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def spec_key(spec: SweepSpec, expansion: Expansion) -> str:
    """Identity of a sweep's design space: the set of its point keys."""
    return digest(sorted(p.key for p in expansion.points))


def run_sweep(
    spec: SweepSpec,
    store_path: str | Path | None = None,
    *,
    executor: str = "local",
    jobs: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    quiet: bool = False,
    stream: TextIO | None = None,
    expansion: Expansion | None = None,
) -> Outcome:
    """Run a sweep into a store; KeyboardInterrupt stops it with completed points kept.

    With ``force`` every point is recomputed, but a recomputation that fails keeps the
    point's earlier done result (counted in ``Outcome.kept``). A store that cannot be
    written mid-way (disk full) stops the sweep with ``Outcome.store_error`` set and every
    point stored before kept.
    """
    if executor not in EXECUTORS:
        raise InputError(f"unknown executor {executor!r} (expected {', '.join(EXECUTORS)})")
    if scheduler is not None:
        if executor != "dask":
            raise InputError(f"--scheduler is for --executor dask; the {executor} executor "
                             "runs on this machine")
        scheduler = check_scheduler(scheduler)
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    if executor == "serial":
        jobs = 1
    elif scheduler is None:  # workers on this machine: no more than it can run
        jobs, why = cap_jobs(jobs, default_jobs())
        if why:
            warnings.warn(why, RuntimeWarning, stacklevel=2)
    expansion = expansion or expand(spec)
    path = Path(store_path) if store_path else default_store(spec)
    if not path.parent.exists():  # as `report --out` and `demo --out` create theirs
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{path}: cannot create the folder {path.parent}: "
                             f"{exc.strerror or exc}") from None
    by_key = {p.key: p for p in expansion.points}
    outcome = Outcome(path, len(by_key))
    with Store.open(path) as store:
        try:
            sweep_id = store.begin_sweep(spec, spec_key(spec, expansion), by_key, executor,
                                         jobs)
            store.put_platforms((p.key, digest(p.platform.to_dict()), p.platform.to_dict())
                                for p in expansion.points)
            done = store.done_keys(by_key)
        except sqlite3.Error as exc:
            raise store_error(path, exc, "start the sweep") from None
        previous = done if force else set()
        if force:
            done = set()
        outcome.reused = len(done)
        todo = [(p.key, p.point, p.workload_key) for p in expansion.points if p.key not in done]
        progress = Progress(len(todo), stream, quiet=quiet)

        def on_results(results: list[Result]) -> None:
            # One transaction per chunk: a crash (even SIGKILL) loses at most the chunk
            # being written, and microsecond points do not pay a commit each.
            try:
                store.put_many([(r, by_key[r.key].record()) for r in results])
            except sqlite3.Error as exc:
                outcome.store_error = str(store_error(path, exc, "store a result"))
                raise _StoreFailed from None
            for result in results:
                if result.status == "done":
                    outcome.computed += 1
                    if result.together > 1:
                        outcome.one_pass += 1
                        outcome.passes += Fraction(1, result.together)
                else:
                    outcome.failures.append((result.key, describe(by_key[result.key]),
                                             result.error or ""))
                    outcome.kept += result.key in previous
                progress.update(failed=result.status != "done")

        # One estimate per workload (an input file's size is read once, not per point).
        per_workload: dict[str, float] = {}
        for key, _, wkey in todo:
            if wkey not in per_workload:
                per_workload[wkey] = work(by_key[key].workload_params)
        chunks = longest_first(chunked(todo, jobs),
                               lambda item: per_workload[by_key[item[0]].workload_key])
        workers = max(1, min(jobs, len(chunks)))
        try:
            if chunks and executor == "serial":
                run_serial(chunks, on_results)
            elif chunks and executor == "local":
                run_local(chunks, on_results, workers)
            elif chunks:  # nothing to do starts no pool and no cluster
                run_dask(chunks, on_results, workers if scheduler is None else jobs,
                         scheduler)
        except KeyboardInterrupt:
            outcome.interrupted = True
        except _StoreFailed:
            outcome.interrupted = True
        finally:
            progress.close()
            try:
                store.finish_sweep(sweep_id, outcome.points, outcome.computed,
                                   outcome.reused, outcome.failed, outcome.interrupted)
            except sqlite3.Error as exc:
                # The points are committed one by one; only this run's summary row is lost.
                outcome.store_error = outcome.store_error or str(
                    store_error(path, exc, "record the end of the sweep"))
    return outcome


class _StoreFailed(Exception):
    """Raised out of a result callback to stop the executor when the store refuses a write
    (the executors stop their workers on any exception, as on Ctrl-C)."""
