"""A cluster that is a cluster: a separately started Dask scheduler and multi-process
workers (``dask scheduler``, ``dask worker``) on loopback, sharing no folder with the driver;
the sweep's input files (a trace, a platform profile) travel by content, and the results
are bit-identical to a serial run (issue 15, item 6)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codesign.sweep.runner import run_sweep
from codesign.sweep.spec import load_spec
from tests.conftest import run_cli
from tests.sweep.test_runner import content

DATA = Path(__file__).resolve().parent.parent / "data"
BIN = Path(sys.executable).parent


def _dask(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "dask"), *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_separately_started_cluster_gets_the_inputs_by_content(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    if not (BIN / "dask").exists():
        pytest.skip("the dask command is not installed")
    driver = tmp_path / "driver"
    driver.mkdir()
    shutil.copy(DATA / "gzip_deflate.lackey.gz", driver / "trace.lackey.gz")
    profile = driver / "slow-memory.toml"
    source = (Path(__file__).resolve().parents[2] / "codesign" / "platforms" / "profiles"
              / "kvm-nehalem.toml").read_text()
    slower = source.replace('"memory.latency" = { value = 200,',
                            '"memory.latency" = { value = 300,')
    assert slower != source
    profile.write_text(slower)  # another profile: other keys, other results
    spec = driver / "cluster.toml"
    spec.write_text(f'''version = 1
name = "cluster"
[workload]
name = "lackey"
path = "trace.lackey.gz"
[mechanism]
name = ["native", "nested", "shadow"]
"tlb.l1.entries" = [16, 64]
[hardware]
"hw.cost" = false
[platform]
name = ["kvm-nehalem", "{profile.name}"]
''')
    worker_home = tmp_path / "worker"  # the workers' own folder and cache: no shared files
    worker_home.mkdir()
    env = {**os.environ, "CODESIGN_CACHE": str(worker_home / "cache")}
    scheduler_file = tmp_path / "scheduler.json"
    procs = [_dask("scheduler", "--scheduler-file", str(scheduler_file), "--port", "0",
                   "--host", "127.0.0.1", "--no-dashboard", cwd=worker_home, env=env)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scheduler_file.exists(), "the scheduler did not start"
        procs.append(_dask("worker", "--scheduler-file", str(scheduler_file), "--nworkers",
                           "2", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                           cwd=worker_home, env=env))
        address = json.loads(scheduler_file.read_text())["address"]
        result = run_cli("sweep", str(spec), "--executor", "dask", "--scheduler", address,
                         "--store", str(tmp_path / "dask.sqlite"), "--quiet", cwd=driver,
                         timeout=600)
        assert result.returncode == 0, result.stderr
        assert "computed 12 / reused 0 / failed 0" in result.stdout
        # The workers read the trace and the profile from their own cache, by content.
        shipped = sorted(p.name for p in (worker_home / "cache" / "inputs").iterdir())
        assert any(n.endswith(".lackey.gz") for n in shipped), shipped
        assert any(n.endswith(".toml") for n in shipped), shipped
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    local = tmp_path / "serial.sqlite"
    cwd = Path.cwd()
    try:
        os.chdir(driver)
        run_sweep(load_spec(spec), local, executor="serial", stream=io.StringIO())
    finally:
        os.chdir(cwd)
    assert content(tmp_path / "dask.sqlite") == content(local)
