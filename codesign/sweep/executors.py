"""Where design points are evaluated: in-process, on a local process pool, or on Dask.

Work travels as chunks of ``(key, Point)``; a worker re-resolves each point (in its own
process, with its own registry), checks that it computes the same key the driver did (a
worker with another toolkit version or plugin set would otherwise store wrong results),
evaluates it, and returns :class:`~codesign.sweep.store.Result` s. A point that raises
becomes a failed result; it never stops the sweep. Evaluation is a pure function of the
point, so every executor and job count gives bit-identical metrics.

Processes, not threads: PyRTL keeps per-process globals, so no process evaluates two points
at once. The local executor's driver is one of its processes: it evaluates too, one chunk at
a time in a thread of its own, its main thread left to store results and take Ctrl-C.
Workers ignore SIGINT so that Ctrl-C reaches only the driver, which stops them, and exit by
themselves when the driver dies without stopping them (SIGKILL).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import math
import os
import re
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

from codesign.allocator import keep_freed_memory
from codesign.errors import InputError
from codesign.hardware import CostEstimateWarning
from codesign.harness import Point, Resolved, resolve, run_resolved, run_resolved_many
from codesign.platforms import Platform
from codesign.registry import default_registry
from codesign.sweep.shipping import materialize, references, ship, unship
from codesign.sweep.store import Result

Chunk = Sequence[tuple[str, Point]]
OnResults = Callable[[list[Result]], None]
"""Receives a chunk's results together: the driver stores them in one transaction."""
EXECUTORS = ("serial", "local", "dask")

JOBS_PER_CPU = 4
"""Most processes (the driver and its workers) a sweep evaluates with per CPU it may use:
points are CPU-bound, so more processes than CPUs buy nothing, and each worker holds its own
numba code and workload data (hundreds of MB); a few per CPU still cover workers that wait
on I/O."""

_SCHEDULER = re.compile(r"^(tcp|tls|ws|wss|ucx)://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})/?$")


def check_scheduler(address: str) -> str:
    """A Dask scheduler address (``tcp://HOST:PORT``), checked before any connection.

    >>> check_scheduler("tcp://10.0.0.5:8786")
    'tcp://10.0.0.5:8786'
    >>> check_scheduler("http://localhost:8787")
    Traceback (most recent call last):
    codesign.errors.InputError: --scheduler 'http://localhost:8787': expected a Dask scheduler address tcp://HOST:PORT (http:// is the dashboard's, not the scheduler's)
    """  # noqa: E501
    match = _SCHEDULER.match(address.strip())
    if match and 0 < int(match.group(3)) < 65536:
        return address.strip()
    hint = ""
    if address.startswith(("http://", "https://")):
        hint = " (http:// is the dashboard's, not the scheduler's)"
    elif match:
        hint = f" (port {match.group(3)} is out of range)"
    raise InputError(f"--scheduler {address!r}: expected a Dask scheduler address "
                     f"tcp://HOST:PORT{hint}")


def cap_jobs(jobs: int, cpus: int) -> tuple[int, str | None]:
    """Processes to evaluate with on this machine (the driver and its workers) for ``jobs``
    asked, and why fewer than asked (None when as asked).

    >>> cap_jobs(1000, 2)
    (8, '--jobs 1000 is more than 4 processes per CPU (2 CPUs here): using 8')
    >>> cap_jobs(16, 16)
    (16, None)
    """
    cap = JOBS_PER_CPU * max(cpus, 1)
    if jobs <= cap:
        return jobs, None
    return cap, (f"--jobs {jobs} is more than {JOBS_PER_CPU} processes per CPU ({cpus} CPUs "
                 f"here): using {cap}")


def evaluate_chunk(chunk: Chunk) -> list[Result]:
    """Evaluate points; runs in a worker. Consecutive points of one workload share its data."""
    keep_freed_memory()  # before the workloads' arrays too
    with warnings.catch_warnings():
        # Announced for a single run; a sweep's progress line already shows the time.
        warnings.simplefilter("ignore", CostEstimateWarning)
        return _evaluate_chunk(chunk)


def evaluate_shipped_chunk(chunk: Chunk, files: dict[str, bytes]) -> list[Result]:
    """:func:`evaluate_chunk` of a chunk whose input files came with it
    (:mod:`codesign.sweep.shipping`); runs in a Dask worker."""
    try:
        local = materialize(files)
    except OSError as exc:
        return _failed_chunk(chunk, f"cannot write the inputs sent to this worker into its "
                             f"cache ({exc.strerror or exc}): set CODESIGN_CACHE to a "
                             "writable folder")
    return evaluate_chunk(unship(chunk, local))


ONE_PASS_OFF_ENV = "CODESIGN_NO_ONE_PASS"
"""Set (to anything but empty) to evaluate every point on its own, never several in one
pass: the same results, for measuring what one pass saves."""


def one_pass_key(point: Point, keys: Sequence[str]) -> tuple[Any, ...]:
    """What the points evaluated together share: everything but the parameters ``keys`` (a
    mechanism's ``one_pass``). Only a grouping: the mechanism checks the resolved
    parameters.

    >>> a = Point("random", "nested", params={"cache.llc.size": 1 << 20, "tlb.l1.entries": 64})
    >>> b = Point("random", "nested", params={"cache.llc.size": 4 << 20, "tlb.l1.entries": 64})
    >>> one_pass_key(a, ["cache.llc.size"]) == one_pass_key(b, ["cache.llc.size"])
    True
    """
    rest = sorted((k, repr(v)) for k, v in point.params.items() if k not in keys)
    return (point.workload, point.mechanism, point.platform, point.base, tuple(rest))


def _evaluate_chunk(chunk: Chunk) -> list[Result]:
    platforms: dict[tuple[str, str | None], Platform] = {}
    cached_key, cached_data = None, None
    out: list[Result] = []
    pending: list[tuple[str, Resolved, float]] = []
    together = not os.environ.get(ONE_PASS_OFF_ENV)

    def data_of(resolved: Resolved) -> Any:
        nonlocal cached_key, cached_data
        if resolved.workload_key != cached_key:
            # Forget the old data first: if generating fails, no later point reuses it.
            cached_key, cached_data = None, None
            cached_data = resolved.workload.generate(resolved.workload_params)
            cached_key = resolved.workload_key
        return cached_data

    def one(key: str, resolved: Resolved, start: float) -> Result:
        try:
            metrics = run_resolved(resolved, data_of(resolved))
            return Result(key, "done", dict(metrics), None, None, time.perf_counter() - start)
        except Exception as exc:  # a failing point is a result, not the end of the sweep
            return _failed(key, exc, start)

    def together_or_alone(group: list[tuple[str, Resolved, float]]) -> None:
        # Points that one pass can take together, or each on its own.
        if len(group) > 1:
            start = time.perf_counter()
            try:
                metrics = run_resolved_many([r for _, r, _ in group], data_of(group[0][1]))
            except ValueError:  # refused: each point then runs (or fails) on its own
                pass
            except Exception as exc:  # a fault of one pass: said, and the points run alone
                warnings.warn(f"one pass of {len(group)} points failed "
                              f"({type(exc).__name__}: {exc}); evaluating them one by one",
                              RuntimeWarning, stacklevel=1)
            else:
                share = (time.perf_counter() - start) / len(group)
                out.extend(Result(key, "done", dict(m), None, None, share, len(group))
                           for (key, _, _), m in zip(group, metrics, strict=True))
                return
        out.extend(one(key, r, start) for key, r, start in group)

    def flush() -> None:
        for i in range(0, len(pending), GROUP_MAX):
            together_or_alone(pending[i:i + GROUP_MAX])
        pending.clear()

    group_key = None
    for key, point in chunk:
        start = time.perf_counter()
        try:
            resolved = resolve(point, platforms=platforms)
            if resolved.key != key:
                raise RuntimeError("this worker computes another key for the point: an "
                                   "input file (trace, capture, profile) changed since the "
                                   "sweep started, or the worker's toolkit version or "
                                   "plugins differ from the driver's")
        except Exception as exc:
            out.append(_failed(key, exc, start))
            continue
        m = resolved.mechanism
        mine = (one_pass_key(point, m.one_pass)
                if together and m.run_many is not None else ("alone", key))
        if pending and mine != group_key:
            flush()
        group_key = mine
        pending.append((key, resolved, start))
    flush()
    order = {key: i for i, (key, _) in enumerate(chunk)}
    out.sort(key=lambda r: order[r.key])
    return out


def _failed(key: str, exc: Exception, start: float) -> Result:
    message = " ".join(f"{type(exc).__name__}: {exc}".split())
    return Result(key, "failed", None, message, traceback.format_exc(),
                  time.perf_counter() - start)


GROUP_MAX = 63
"""Most points evaluated in one pass, and kept together in one chunk: a replay and the 62
other LLCs, or data caches, it runs beside its own (``hwmodels.cache.model.MAX_VARIANTS``),
or as many lanes of other translation hardware
(:meth:`codesign.mmu.replay.Replay.vary_hardware`)."""


def chunked(items: Sequence[tuple[str, Point, str]], jobs: int) -> list[list[tuple[str, Point]]]:
    """Chunks of (key, point), grouped by workload so a worker generates each workload once,
    and the points a mechanism evaluates in one pass (:func:`one_pass_key`) side by side
    and in one chunk (up to :data:`GROUP_MAX`).

    Small enough that every worker gets several (load balance, frequent commits), large
    enough that per-task overhead stays small for microsecond points.

    >>> pts = [(f"k{i}", Point("random", "nested", params={"cache.llc.size": s,
    ...         "guest.levels": e}), "w") for i, (e, s) in enumerate(
    ...         (e, s) for s in (1 << 20, 2 << 20) for e in (4, 5))]
    >>> [[k for k, _ in c] for c in chunked(pts, 2)]
    [['k0', 'k2'], ['k1', 'k3']]

    A group that is the whole sweep is cut into a run per job:

    >>> pts = [(f"k{e}", Point("random", "nested", params={"tlb.l1.entries": e}), "w")
    ...        for e in (16, 32, 64, 128)]
    >>> [[k for k, _ in c] for c in chunked(pts, 2)], len(chunked(pts, 1))
    ([['k16', 'k32'], ['k64', 'k128']], 1)
    """
    registry = default_registry()

    def group(point: Point) -> tuple[Any, ...]:
        try:
            keys = registry.mechanism(point.mechanism).one_pass
        except InputError:
            keys = ()
        return one_pass_key(point, keys) if keys else ("alone",)

    keyed = [(wkey, group(p), i, k, p) for i, (k, p, wkey) in enumerate(items)]
    # By workload, then by group (a group's points in their order), groups in order of
    # their first point; a point of no group stays where it was.
    first: dict[tuple[Any, ...], int] = {}
    for wkey, g, i, _, _ in keyed:
        if g != ("alone",):
            first.setdefault((wkey, *g), i)
    keyed.sort(key=lambda t: (t[0], first.get((t[0], *t[1]), t[2]), t[2]))
    # A group that is much of the sweep is cut into as many runs as the jobs it is worth: one
    # pass saves less than the jobs it would leave idle (a lane of nested GUPS costs most of
    # a point), and each run is still one pass.
    sizes = collections.Counter((wkey, *g) for wkey, g, _, _, _ in keyed if g != ("alone",))
    cap = {g: min(GROUP_MAX, math.ceil(n / min(jobs, max(1, round(jobs * n / len(items))))))
           for g, n in sizes.items()}
    runs: list[list[tuple[str, Point]]] = []
    run_workload: list[str] = []
    last = None
    for wkey, g, _, k, p in keyed:
        this = (wkey, *g) if g != ("alone",) else None
        if this is None or this != last or len(runs[-1]) >= cap[this]:
            runs.append([])
            run_workload.append(wkey)
        runs[-1].append((k, p))
        last = this
    size = max(1, min(16, math.ceil(len(items) / (max(jobs, 1) * 8))))
    # A workload's runs go into a chunk as one when they fit in one: a workload split over
    # two chunks that workers take at once is generated twice, and so is its native reference.
    units: list[list[tuple[str, Point]]] = []
    for _, group in itertools.groupby(zip(run_workload, runs, strict=True),
                                      key=lambda pair: pair[0]):
        block = [run for _, run in group]
        whole = [x for run in block for x in run]
        units.extend([whole] if len(whole) <= size else block)
    chunks: list[list[tuple[str, Point]]] = []
    for unit in units:
        if chunks and len(chunks[-1]) + len(unit) <= size:
            chunks[-1].extend(unit)
        else:
            chunks.append(list(unit))
    return chunks


DIED = "worker process died (killed or out of memory)"


def _failed_chunk(chunk: Chunk, why: str) -> list[Result]:
    return [Result(key, "failed", None, why, None, 0.0) for key, _ in chunk]


WATCH_S = 0.5
"""How often a worker checks that the driver that started it still runs."""


def _init_worker(driver: int) -> None:
    """A local worker's start: ignore SIGINT (the driver stops workers) and exit as soon as
    the driver is gone. A driver killed with SIGKILL runs no clean-up, and its workers would
    otherwise wait on their task queue forever; when it dies they are re-parented, so a
    changed parent pid says it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_driver, args=(driver,), name="codesign-watchdog",
                     daemon=True).start()


def _watch_driver(driver: int) -> None:
    while os.getppid() == driver:
        time.sleep(WATCH_S)
    os._exit(3)  # no clean-up to run: the driver that would read our results is gone


def run_serial(chunks: list[list[tuple[str, Point]]], on_results: OnResults) -> None:
    """Evaluate in this process, in order (for debugging: breakpoints and tracebacks work)."""
    for chunk in chunks:
        on_results(evaluate_chunk(chunk))


def _in_thread(fn: Callable[..., list[Result]], *args: Any) -> Future[list[Result]]:
    """``fn(*args)`` in a thread of its own: the driver's evaluation of a chunk, so that the
    main thread stays free to store the workers' results as they come and to take Ctrl-C. A
    daemon thread: an interrupted sweep does not wait for the chunk it had under way. Its
    :class:`~concurrent.futures.Future` is waited on with the workers'."""
    future: Future[list[Result]] = Future()
    future.set_running_or_notify_cancel()

    def body() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # the main thread raises it
            future.set_exception(exc)

    threading.Thread(target=body, name="codesign-driver-eval", daemon=True).start()
    return future


def run_local(chunks: list[list[tuple[str, Point]]], on_results: OnResults, jobs: int) -> None:
    """Evaluate with ``jobs`` processes on this machine: the driver itself and ``jobs - 1``
    worker processes.

    The driver starts at once, from the back of the queue (the smallest chunks, in
    longest-first order), and works to the end; the workers take the queue from the front as
    they come up. A worker needs a second or two to start (an interpreter, the imports, the
    compiled kernels from numba's cache), on a core of its own: the driver is never slowed
    by it, so a sweep shorter than the start-up is done as fast as serially (the workers,
    still starting, are then stopped), and a long one has ``jobs`` processes on it. When
    the queue is empty the driver takes back a chunk a worker holds but has not started, or
    else runs a copy of the newest one a worker holds (queued behind the chunk it runs, or
    held while it starts): the copy that ends first is stored, the other dropped (evaluation
    is a pure function of the point), and the workers still busy with copies are stopped.
    """
    todo = collections.deque(enumerate(chunks))
    pending: dict[Future[list[Result]], tuple[int, Chunk]] = {}
    stored: set[int] = set()
    copied: set[int] = set()  # the chunks the driver has taken
    mine: Future[list[Result]] | None = None  # the driver's chunk under way
    mine_n = -1
    helpers = max(0, min(jobs, len(chunks)) - 1)
    pool = (ProcessPoolExecutor(max_workers=helpers, mp_context=get_context("spawn"),
                                initializer=_init_worker, initargs=(os.getpid(),))
            if helpers else None)

    def refill() -> None:
        # A backlog: workers never wait for work.
        while pool is not None and todo and len(pending) < 2 * helpers:
            n, chunk = todo.popleft()
            try:
                pending[pool.submit(evaluate_chunk, chunk)] = (n, chunk)
            except BrokenProcessPool:  # a worker died: the chunks not yet sent fail as theirs
                store(n, _failed_chunk(chunk, DIED))

    def store(n: int, results: list[Result]) -> None:
        if n not in stored:
            stored.add(n)
            on_results(results)

    def take_back() -> tuple[int, Chunk] | None:
        # The newest first: the least likely started (a worker's queue holds one more
        # than it runs, and what it queues can no longer be cancelled).
        newest = [f for f in reversed(pending) if pending[f][0] not in stored]
        for future in newest:
            if future.cancel():
                return pending.pop(future)
        # Else one a worker has queued or runs: whichever copy ends first is stored, and the
        # driver's core would idle otherwise.
        return next((pending[f] for f in newest if pending[f][0] not in copied), None)

    try:
        # Submitting starts the workers, with SIGINT ignored: a worker still importing when
        # Ctrl-C reaches the process group would print a KeyboardInterrupt traceback before
        # its initializer ignores the signal (an ignored signal stays ignored across exec;
        # see run_dask).
        with _sigint_ignored():
            refill()
        while True:
            if mine is None:
                picked = todo.pop() if todo else take_back()
                if picked is not None:
                    mine_n, chunk = picked
                    copied.add(mine_n)
                    mine = _in_thread(evaluate_chunk, chunk)
            if mine is None and all(n in stored for n, _ in pending.values()):
                break  # everything is stored (the workers' copies, if any, go)
            finished, _ = wait({*pending, *([mine] if mine is not None else [])},
                               return_when=FIRST_COMPLETED)
            for future in finished:
                if future is mine:
                    mine = None
                    store(mine_n, future.result())
                    continue
                n, chunk = pending.pop(future)
                try:
                    results = future.result()
                except BrokenProcessPool:
                    results = _failed_chunk(chunk, DIED)
                store(n, results)
            refill()
    except BaseException as exc:
        if pool is not None:
            _stop_pool(pool)
        if mine is not None and not isinstance(exc, KeyboardInterrupt):
            wait([mine])  # no evaluation left running behind the caller's back
        raise
    if pool is not None and pending:  # workers holding copies of chunks the driver stored
        _stop_pool(pool)
    elif pool is not None:
        pool.shutdown(wait=True)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    # Older Pythons have no public way to stop running workers (they ignore SIGINT); take
    # the list before shutdown() forgets it.
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
    for process in workers:
        process.join(timeout=10)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT in this process for the ``with`` body (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_dask(chunks: list[list[tuple[str, Point]]], on_results: OnResults, jobs: int,
             scheduler: str | None) -> None:
    """Evaluate on a Dask cluster: ``scheduler`` (tcp://host:port) or a local cluster."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError("the dask executor needs dask.distributed: "
                         "pip install 'codesign[cluster]'") from None
    import logging

    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="20s")
        else:
            # Ctrl-C reaches the whole foreground process group, and each of Dask's worker
            # processes would print a KeyboardInterrupt traceback. An ignored signal stays
            # ignored across exec and Python then installs no handler of its own, so
            # workers started while SIGINT is ignored never see it; the driver stops them.
            # (A Ctrl-C during the few seconds of the start is lost: press it again.)
            with _sigint_ignored():
                cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
                client = Client(cluster)
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise InputError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    futures: list[Any] = []
    try:
        owner = {}
        # Workers need not see the driver's files: they travel with the work, by content.
        chunks, files = ship(chunks)
        sent = client.scatter(files) if files else {}
        for i, chunk in enumerate(chunks):
            needed = {name: sent[name] for name in references(chunk)}
            future = client.submit(evaluate_shipped_chunk, chunk, needed, pure=False,
                                   key=f"codesign-chunk-{os.getpid()}-{i}-{chunk[0][0][:12]}")
            owner[future.key] = chunk
            futures.append(future)
        for future in as_completed(futures):
            try:
                results = future.result()
            except Exception as exc:  # worker lost: KilledWorker and the like
                why = " ".join(f"dask: {type(exc).__name__}: {exc}".split())
                results = _failed_chunk(owner[future.key], why)
            on_results(results)
    finally:
        if futures:
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()
