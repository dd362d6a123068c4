"""End-to-end sweep engine: resume, failures, executors, crash safety, interruption."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codesign.sweep.runner import run_sweep
from codesign.sweep.spec import load_spec, parse_spec
from codesign.sweep.store import Store
from tests.conftest import run_cli


def content(store: Path) -> list[tuple]:
    """What a store holds, minus timings and timestamps: equal for equivalent runs."""
    with sqlite3.connect(store) as db:
        return db.execute("SELECT key, workload, mechanism, platform, params, status, error, "
                          "metrics FROM points ORDER BY key").fetchall()


def noise_spec(tmp_path: Path, name: str, seeds: int, sleep_ms: int = 0,
               fail_every: int = 0) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f"""
version = 1
name = "{name}"
[workload]
name = "noise"
seed = {{ range = [0, {seeds - 1}] }}
n = 500
[mechanism]
name = "flaky"
flaky.sleep_ms = {sleep_ms}
flaky.fail_every = {fail_every}
flaky.scale = [1.0, 2.5]
""")
    return path


def test_second_run_computes_nothing(tmp_path: Path) -> None:
    spec = parse_spec({"version": 1, "name": "r", "workload": {"name": "walks",
                       "huge_2m_fraction": [0.0, 0.3]},
                       "mechanism": {"name": "analytic-walk", "guest": {"levels": [4, 5]}}})
    store = tmp_path / "r.sqlite"
    first = run_sweep(spec, store, executor="serial", stream=io.StringIO())
    before = content(store)
    again = run_sweep(spec, store, executor="local", jobs=2, stream=io.StringIO())
    assert (first.computed, first.reused, first.failed) == (4, 0, 0)
    assert (again.computed, again.reused, again.failed) == (0, 4, 0)
    assert content(store) == before
    forced = run_sweep(spec, store, executor="serial", force=True, stream=io.StringIO())
    assert (forced.computed, forced.reused) == (4, 0)
    assert content(store) == before


def test_cli_second_run_prints_counts(tmp_path: Path) -> None:
    spec = tmp_path / "q.toml"
    spec.write_text('version = 1\nname = "q"\n[workload]\nname = "walks"\nwalks = 100\n'
                    '[mechanism]\nname = "analytic-walk"\nvirtualized = [false, true]\n')
    first = run_cli("sweep", str(spec), "--jobs", "2", cwd=tmp_path)
    second = run_cli("sweep", str(spec), "--jobs", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "computed 2 / reused 0 / failed 0" in first.stdout
    assert "computed 0 / reused 2 / failed 0" in second.stdout
    assert (tmp_path / "q.sqlite").exists()  # default store: named after the sweep


def test_failed_points_are_stored_and_rerun(plugin: Path, tmp_path: Path) -> None:
    spec = load_spec(noise_spec(tmp_path, "f", seeds=6, fail_every=3))
    store = tmp_path / "f.sqlite"
    outcome = run_sweep(spec, store, executor="local", jobs=2, stream=io.StringIO())
    # seeds 0 and 3 fail, each for both scales
    assert (outcome.computed, outcome.failed) == (8, 4)
    assert all("RuntimeError: flaky failure at seed" in e for _, _, e in outcome.failures)
    with Store.open(store) as s:
        rows = list(s.rows())
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 4 and all(r["metrics"] == {} for r in failed)
    assert {r["params"]["workload.seed"] for r in failed} == {0, 3}
    again = run_sweep(spec, store, executor="serial", stream=io.StringIO())
    assert (again.computed, again.reused, again.failed) == (0, 8, 4)  # failed ones retried


def test_cli_exit_status_and_summary_on_failures(plugin: Path, tmp_path: Path) -> None:
    spec = noise_spec(tmp_path, "g", seeds=4, fail_every=2)
    result = run_cli("sweep", str(spec), "--executor", "serial", cwd=tmp_path)
    assert result.returncode == 1
    assert "computed 4 / reused 0 / failed 4" in result.stdout
    assert result.stdout.count("flaky failure at seed") == 4
    assert "Traceback" not in result.stderr


def test_executors_and_job_counts_give_identical_metrics(plugin: Path, tmp_path: Path) -> None:
    spec = load_spec(noise_spec(tmp_path, "x", seeds=5))
    walks = parse_spec({"version": 1, "name": "w",
                        "workload": {"name": "walks", "walks": 5000,
                                     "huge_2m_fraction": [0.1, 0.4], "seed": [1, 2]},
                        "mechanism": {"name": "analytic-walk"}})
    runs = [("serial", 1), ("local", 1), ("local", 2), ("dask", 2)]
    stores = []
    for executor, jobs in runs:
        store = tmp_path / f"{executor}-{jobs}.sqlite"
        for s in (spec, walks):
            outcome = run_sweep(s, store, executor=executor, jobs=jobs, stream=io.StringIO())
            assert outcome.failed == 0 and not outcome.interrupted
        stores.append(content(store))
    assert len(stores[0]) == 14
    for other in stores[1:]:
        assert other == stores[0]


def _done(store: Path) -> int:
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM points WHERE status='done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def default_sigint() -> None:
    """In the child: Ctrl-C as a terminal delivers it. A test run started in the background
    by a non-interactive shell (``cmd &``, nohup) inherits SIGINT ignored, and Python then
    installs no KeyboardInterrupt handler, so the interrupt tests would test nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(spec: Path, store: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "codesign.cli", "sweep", str(spec),
                             "--store", str(store), "--jobs", "3", "--quiet"], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=default_sigint)


def _wait_for(store: Path, count: int, proc: subprocess.Popen, limit: float = 120) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done = _done(store)
        if done >= count:
            return done
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"only {_done(store)} points done after {limit} s")


def test_sigkill_loses_nothing_and_resume_equals_uninterrupted(plugin: Path,
                                                               tmp_path: Path) -> None:
    spec = noise_spec(tmp_path, "k", seeds=20, sleep_ms=120)  # 40 points
    killed = tmp_path / "killed.sqlite"
    proc = _start(spec, killed, tmp_path)
    seen = _wait_for(killed, 6, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, no chance to clean up
    proc.wait()
    survived = _done(killed)
    assert 6 <= seen <= survived < 40
    with sqlite3.connect(killed) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    resumed = run_cli("sweep", str(spec), "--store", str(killed), "--jobs", "2", "--quiet",
                      cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"computed {40 - survived} / reused {survived} / failed 0" in resumed.stdout

    clean = tmp_path / "clean.sqlite"
    whole = run_cli("sweep", str(spec), "--store", str(clean), "--jobs", "2", "--quiet",
                    cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    assert content(killed) == content(clean)


def test_interrupt_stops_cleanly_and_keeps_completed_points(plugin: Path,
                                                            tmp_path: Path) -> None:
    spec = noise_spec(tmp_path, "i", seeds=20, sleep_ms=120)
    store = tmp_path / "i.sqlite"
    proc = _start(spec, store, tmp_path)
    _wait_for(store, 4, proc)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    kept = _done(store)
    assert "reused 0 / failed 0" in out and f"computed {kept} " in out
    with Store.open(store) as s:
        run = s.sweeps()[-1]
    assert run["interrupted"] == 1 and run["computed"] == kept


def _children(pid: int) -> int:
    """How many live processes have ``pid`` as their parent (from /proc)."""
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split() if stat else []
        count += bool(fields) and int(fields[1]) == pid and fields[0] not in ("Z", "X")
    return count


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_interrupt_while_the_workers_start_prints_no_traceback(plugin: Path,
                                                                tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group, workers still importing included: they start
    with SIGINT ignored, so none prints a KeyboardInterrupt traceback. (Without that, a
    worker interrupted in its imports printed one in about two tries of three: three tries.)"""
    spec = noise_spec(tmp_path, "s", seeds=20, sleep_ms=120)
    for attempt in range(3):
        store = tmp_path / f"s{attempt}.sqlite"
        proc = _start(spec, store, tmp_path)
        deadline = time.monotonic() + 60
        # two workers and multiprocessing's resource tracker: the workers have been spawned
        while _children(proc.pid) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.3)  # they are importing the toolkit now (that takes a second or more)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err, err


def test_dask_executor_with_a_scheduler_address(plugin: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    spec = noise_spec(tmp_path, "d", seeds=3)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        result = run_cli("sweep", str(spec), "--executor", "dask", "--scheduler",
                         cluster.scheduler_address, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "computed 6 / reused 0 / failed 0" in result.stdout
    local = tmp_path / "local.sqlite"
    run_sweep(load_spec(spec), local, executor="serial", stream=io.StringIO())
    assert content(tmp_path / "d.sqlite") == content(local)
