"""Regression tests of the engine's robustness contract (issue 11): a forced recomputation
never erases a done result, stores are read without write access, a store that cannot be
written stops the sweep with one line and nothing lost, worker counts and scheduler
addresses are checked, Ctrl-C under Dask prints no worker tracebacks."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from codesign import cli
from codesign.sweep import executors, runner
from codesign.sweep.executors import cap_jobs, check_scheduler
from codesign.sweep.runner import run_sweep
from codesign.sweep.spec import load_spec, parse_spec
from codesign.sweep.store import Result, Store
from tests.conftest import run_cli
from tests.sweep.test_runner import content, default_sigint, noise_spec

WALKS = {"version": 1, "name": "r", "workload": {"name": "walks", "walks": 200,
                                                 "huge_2m_fraction": [0.0, 0.3]},
         "mechanism": {"name": "analytic-walk", "guest": {"levels": [4, 5]}}}


def _main(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("codesign: error: "), err
    assert "Traceback" not in err
    return lines[0]


# -- --force never erases a good result ------------------------------------------------------


def test_force_recomputation_that_fails_keeps_the_done_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_spec(WALKS)
    store = tmp_path / "r.sqlite"
    run_sweep(spec, store, executor="serial", stream=io.StringIO())
    before = content(store)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("recomputation failed")

    monkeypatch.setattr(executors, "run_resolved", broken)
    forced = run_sweep(spec, store, executor="serial", force=True, stream=io.StringIO())
    assert (forced.computed, forced.failed, forced.kept) == (0, 4, 4)
    assert content(store) == before  # every done row, metrics and all, is intact
    with Store.open(store) as s:
        attempts = s.attempts()
    assert len(attempts) == 4
    assert all("recomputation failed" in a["error"] for a in attempts)


def test_failed_point_is_still_replaced_by_a_later_success(tmp_path: Path) -> None:
    record = {"workload": "w", "mechanism": "m", "platform": "p", "params": {}}
    with Store.open(tmp_path / "s.sqlite") as s:
        assert s.put(Result("k", "failed", None, "E: 1", None, 0.0), record)
        assert s.put(Result("k", "failed", None, "E: 2", None, 0.0), record)
        assert s.put(Result("k", "done", {"x": 1}, None, None, 0.0), record)
        assert not s.put(Result("k", "failed", None, "E: 3", None, 0.0), record)
        rows = list(s.rows())
        assert [r["status"] for r in rows] == ["done"] and rows[0]["metrics"] == {"x": 1}
        assert [a["error"] for a in s.attempts("k")] == ["E: 1", "E: 2", "E: 3"]


def test_a_store_made_before_attempts_were_kept_gains_the_table(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    Store.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE attempts")
    with Store.open_readonly(path) as s:
        assert s.attempts() == []  # readable as it is
    record = {"workload": "w", "mechanism": "m", "platform": "p", "params": {}}
    with Store.open(path) as s:
        s.put(Result("k", "failed", None, "E", None, 0.0), record)
        assert len(s.attempts()) == 1


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_force_with_a_worker_killed_keeps_every_done_result(plugin: Path,
                                                            tmp_path: Path) -> None:
    spec = noise_spec(tmp_path, "kf", seeds=12, sleep_ms=300)  # 24 points
    store = tmp_path / "kf.sqlite"
    first = run_cli("sweep", str(spec), "--store", str(store), "--jobs", "2", "--quiet",
                    cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = content(store)
    with sqlite3.connect(store) as db:
        first_end = db.execute("SELECT max(finished_at) FROM points").fetchone()[0]
    proc = subprocess.Popen([sys.executable, "-m", "codesign.cli", "sweep", str(spec),
                             "--store", str(store), "--jobs", "3", "--quiet", "--force"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            # the pool's workers (--jobs 3: two, the driver evaluating too): the driver's
            # children that are not its resource tracker
            workers = [c for c in _children(proc.pid)
                       if "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_text()]
            if len(workers) >= 2 and _recomputed(store, first_end) >= 2:
                break
            time.sleep(0.05)
        assert workers, "the sweep's workers never started"
        os.kill(workers[0], signal.SIGKILL)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "worker process died" in out and "kept their earlier done result" in out, out
    assert content(store) == before


def _recomputed(store: Path, since: str) -> int:
    """Points the forced run has stored so far."""
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM points WHERE finished_at > ?",
                              (since,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


# -- a store that cannot be written ---------------------------------------------------------


def test_full_disk_stops_with_one_line_and_keeps_stored_points(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "full.toml"
    spec.write_text('version = 1\nname = "full"\n[workload]\nname = "walks"\nwalks = 100\n'
                    'huge_2m_fraction = [0.0, 0.1, 0.2, 0.3]\n[mechanism]\n'
                    'name = "analytic-walk"\n')
    store = tmp_path / "full.sqlite"
    put, calls = Store._put, []

    def filling(self: Store, result: Result, record: dict) -> bool:
        calls.append(result.key)
        if len(calls) > 2:
            raise sqlite3.OperationalError("database or disk is full")
        return put(self, result, record)

    monkeypatch.setattr(Store, "_put", filling)  # every write of a result goes through it
    status, out, err = _main("sweep", str(spec), "--store", str(store), "--executor",
                             "serial", "--quiet", capsys=capsys)
    assert status == cli.EXIT_BAD_INPUT
    line = _one_line_error(err)
    assert "database or disk is full" in line and "points stored before are kept" in line
    assert "computed 2 / reused 0 / failed 0 of 4 points" in out
    monkeypatch.undo()
    with Store.open_readonly(store) as s:
        assert sum(r["status"] == "done" for r in s.rows()) == 2


def test_store_name_too_long_is_one_line(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "q.toml"
    spec.write_text('version = 1\nname = "q"\n[workload]\nname = "walks"\n'
                    '[mechanism]\nname = "analytic-walk"\n')
    status, _, err = _main("sweep", str(spec), "--store", str(tmp_path / ("s" * 300)),
                           "--executor", "serial", capsys=capsys)
    assert status == cli.EXIT_BAD_INPUT
    assert "file name too long" in _one_line_error(err)
    status, _, err = _main("results", str(tmp_path / ("s" * 300)), capsys=capsys)
    assert status == cli.EXIT_BAD_INPUT and "file name too long" in _one_line_error(err)


# -- reading and writing without permission ------------------------------------------------
# Root ignores permission bits, and CI runs as root: these tests run the CLI as root without
# the capabilities that override them (setpriv drops CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH), which a read-only file or folder then stops as it stops a user.

_NO_OVERRIDE = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search",
                "--inh-caps=-all", "--")


@contextlib.contextmanager
def _shared_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="codesign-ro-"))
    try:
        yield path
    finally:
        for p in (path, *path.rglob("*")):
            with contextlib.suppress(OSError):
                p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(path, ignore_errors=True)


def _unprivileged(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    prefix = _NO_OVERRIDE if os.geteuid() == 0 else ()
    return subprocess.run([*prefix, sys.executable, "-m", "codesign.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def unprivileged() -> None:
    """Skip where permission bits cannot be made to bind (root without setpriv)."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permission bits do not bind")
    with _shared_dir() as cwd:
        locked = cwd / "locked"
        locked.mkdir(mode=0o555)
        probe = subprocess.run([*(_NO_OVERRIDE if os.geteuid() == 0 else ()), "sh", "-c",
                                f"touch {locked}/x"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("this process cannot drop the capability to write anywhere")


def test_results_and_report_read_a_store_in_a_read_only_folder(unprivileged: None) -> None:
    with _shared_dir() as root:
        folder = root / "ro"
        folder.mkdir()
        store = folder / "r.sqlite"
        run_sweep(parse_spec(WALKS), store, executor="serial", stream=io.StringIO())
        files = sorted(p.name for p in folder.iterdir())
        store.chmod(0o444)
        folder.chmod(0o555)
        csv = _unprivileged("results", str(store), cwd=root)
        assert csv.returncode == 0, csv.stderr
        assert len(csv.stdout.splitlines()) == 5  # header and four points
        report = _unprivileged("report", str(store), "--out", str(root / "out"), cwd=root)
        assert report.returncode == 0, report.stderr
        assert (root / "out" / "report.md").exists()
        assert sorted(p.name for p in folder.iterdir()) == files  # nothing was written there


def test_sweep_into_a_read_only_store_says_permission_denied(unprivileged: None) -> None:
    with _shared_dir() as root:
        spec = root / "r.toml"
        spec.write_text('version = 1\nname = "r"\n[workload]\nname = "walks"\n'
                        '[mechanism]\nname = "analytic-walk"\n')
        store = root / "r.sqlite"
        run_sweep(load_spec(spec), store, executor="serial", stream=io.StringIO())
        store.chmod(0o444)
        result = _unprivileged("sweep", str(spec), "--store", str(store), "--force", cwd=root)
        assert result.returncode == cli.EXIT_BAD_INPUT
        line = _one_line_error(result.stderr)
        assert "cannot write to the store: permission denied" in line


def test_demo_into_an_unwritable_folder_says_permission_denied(unprivileged: None) -> None:
    with _shared_dir() as root:
        locked = root / "locked"
        locked.mkdir(mode=0o555)  # as "/" is to a user
        result = _unprivileged("demo", "--out", str(locked), "--quiet", cwd=root)
    assert result.returncode == cli.EXIT_BAD_INPUT
    line = _one_line_error(result.stderr)
    assert "permission denied" in line and "not a usable" not in line


# -- workers and schedulers -----------------------------------------------------------------


def test_jobs_are_capped_per_cpu() -> None:
    assert cap_jobs(1000, 2) == (8, "--jobs 1000 is more than 4 processes per CPU (2 CPUs "
                                    "here): using 8")
    assert cap_jobs(8, 2) == (8, None)
    assert cap_jobs(3, 0)[0] == 3


def test_a_thousand_jobs_start_no_more_workers_than_chunks_and_cpus(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []

    def local(chunks: list, on_results: object, jobs: int) -> None:
        started.append(jobs)
        executors.run_serial(chunks, on_results)

    monkeypatch.setattr(runner, "run_local", local)
    monkeypatch.setattr(runner, "default_jobs", lambda: 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = run_sweep(parse_spec(WALKS), tmp_path / "j.sqlite", jobs=1000,
                            stream=io.StringIO())
    assert outcome.computed == 4
    assert started and started[0] <= 4
    assert any("--jobs 1000 is more than 4 processes per CPU" in str(w.message) for w in caught)


@pytest.mark.parametrize("address", ["notaurl", "http://localhost:8787", "tcp://",
                                     "tcp://host:99999", "tcp://host"])
def test_bad_scheduler_address_is_one_line(address: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "q.toml"
    spec.write_text('version = 1\nname = "q"\n[workload]\nname = "walks"\n'
                    '[mechanism]\nname = "analytic-walk"\n')
    status, _, err = _main("sweep", str(spec), "--executor", "dask", "--scheduler", address,
                           "--store", str(tmp_path / "q.sqlite"), capsys=capsys)
    assert status == cli.EXIT_BAD_INPUT
    assert "expected a Dask scheduler address tcp://HOST:PORT" in _one_line_error(err)
    assert not (tmp_path / "q.sqlite").exists()  # refused before anything was written


def test_scheduler_without_the_dask_executor_is_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "q.toml"
    spec.write_text('version = 1\nname = "q"\n[workload]\nname = "walks"\n'
                    '[mechanism]\nname = "analytic-walk"\n')
    status, _, err = _main("sweep", str(spec), "--scheduler", "tcp://127.0.0.1:8786",
                           "--store", str(tmp_path / "q.sqlite"), capsys=capsys)
    assert status == cli.EXIT_BAD_INPUT
    assert "--scheduler is for --executor dask" in _one_line_error(err)


def test_check_scheduler_accepts_real_addresses() -> None:
    for address in ("tcp://127.0.0.1:8786", "tls://sched.example.org:8786",
                    "tcp://[::1]:8786"):
        assert check_scheduler(address) == address


def test_ctrl_c_under_dask_prints_no_worker_tracebacks(plugin: Path, tmp_path: Path) -> None:
    spec = noise_spec(tmp_path, "dc", seeds=20, sleep_ms=400)
    store = tmp_path / "dc.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "codesign.cli", "sweep", str(spec),
                             "--store", str(store), "--executor", "dask", "--jobs", "2",
                             "--quiet"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
                    # points done, not merely stored pending: the cluster is up and
                    # Ctrl-C is no longer ignored while it starts
                    if db.execute("SELECT count(*) FROM points WHERE status='done'"
                                  ).fetchone()[0] >= 2:
                        break
            except sqlite3.OperationalError:
                pass
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == cli.EXIT_INTERRUPTED, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "interrupted" in err


# -- output ----------------------------------------------------------------------------------


def test_csv_keeps_whole_numbers_whole_when_some_rows_lack_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.sqlite"
    with Store.open(path) as s:
        s.put(Result("a", "done", {"m": 1.5, "n": 7}, None, None, 0.1),
              {"workload": "w", "mechanism": "m", "platform": "p", "params": {"x": 2}})
        s.put(Result("b", "done", {"m": 2.5}, None, None, 0.1),
              {"workload": "w", "mechanism": "m", "platform": "p", "params": {"y": 3}})
    status, out, _ = _main("results", str(path), capsys=capsys)
    assert status == 0
    header, a, b = out.splitlines()
    columns = header.split(",")
    row_a = dict(zip(columns, a.split(","), strict=True))
    row_b = dict(zip(columns, b.split(","), strict=True))
    assert (row_a["x"], row_a["y"], row_a["n"]) == ("2", "", "7")
    assert (row_b["x"], row_b["y"], row_b["n"]) == ("", "3", "")
    assert (row_a["m"], row_b["m"]) == ("1.5", "2.5")


def test_an_unexpected_error_is_one_line_with_exit_3(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def boom(args: object) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "cmd_list", boom)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    status, _, err = _main("list", capsys=capsys)
    assert status == cli.EXIT_INTERNAL
    assert err.strip() == ("codesign: internal error: ZeroDivisionError: a bug (a bug in "
                           "codesign; CODESIGN_DEBUG=1 shows the traceback)")
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["list"])


def test_store_in_a_folder_that_does_not_exist_creates_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "q.toml"
    spec.write_text('version = 1\nname = "q"\n[workload]\nname = "walks"\nwalks = 20\n'
                    '[mechanism]\nname = "analytic-walk"\n')
    store = tmp_path / "new" / "deeper" / "q.sqlite"
    status, out, _ = _main("sweep", str(spec), "--store", str(store), "--executor", "serial",
                           "--quiet", capsys=capsys)
    assert status == 0 and store.exists()
    assert "computed 1 / reused 0 / failed 0" in out
    blocked = tmp_path / "file"
    blocked.write_text("")
    status, _, err = _main("sweep", str(spec), "--store", str(blocked / "sub" / "q.sqlite"),
                           "--executor", "serial", capsys=capsys)
    assert status == cli.EXIT_BAD_INPUT
    assert "cannot create the folder" in _one_line_error(err)
