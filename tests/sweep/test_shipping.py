"""Input files that travel with Dask work: small ones by content, large ones by path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codesign.harness import Point
from codesign.sweep.shipping import REFERENCE, materialize, ship, unship


def _points(trace: Path, profile: Path) -> list[list[tuple[str, Point]]]:
    return [[("k1", Point("lackey", "native", platform=profile.name,
                          params={"workload.path": trace.name}, base=str(trace.parent))),
             ("k2", Point("lackey", "nested", params={"workload.path": trace.name},
                          base=str(trace.parent)))]]


def test_small_files_travel_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))
    trace, profile = tmp_path / "t.lackey", tmp_path / "p.toml"
    trace.write_text(" L 1000,8\n")
    profile.write_text("# a profile\n")
    chunks, files = ship(_points(trace, profile))
    assert len(files) == 2  # each file once, however many points name it
    (_, first), (_, second) = chunks[0]
    assert first.params["workload.path"].startswith(REFERENCE)
    assert first.params["workload.path"] == second.params["workload.path"]
    assert first.platform.startswith(REFERENCE)
    (_, local), _ = unship(chunks[0], materialize(files))
    assert Path(local.params["workload.path"]).read_text() == " L 1000,8\n"


def test_a_file_the_toolkit_streams_travels_by_path(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))
    trace, profile = tmp_path / "t.lackey", tmp_path / "p.toml"
    trace.write_text(" L 1000,8\n" * 100)  # 1,000 bytes
    profile.write_text("# a profile\n")
    monkeypatch.setenv("CODESIGN_STREAM_BYTES", "999")
    chunks, files = ship(_points(trace, profile))
    (_, first), _ = chunks[0]
    assert first.params["workload.path"] == str(trace.absolute())
    assert first.platform.startswith(REFERENCE) and len(files) == 1  # only the profile


def test_a_streamed_trace_by_path_gives_a_dask_sweep_the_serial_results(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    import gzip
    import io

    from codesign.sweep.runner import run_sweep
    from codesign.sweep.spec import load_spec
    from tests.conftest import run_cli
    from tests.sweep.test_runner import content

    data = Path(__file__).resolve().parent.parent / "data" / "gzip_deflate.lackey.gz"
    (tmp_path / "t.lackey").write_bytes(gzip.decompress(data.read_bytes()))
    spec = tmp_path / "s.toml"
    spec.write_text('version = 1\nname = "s"\n[workload]\nname = "lackey"\n'
                    'path = "t.lackey"\n[mechanism]\nname = ["native", "nested"]\n'
                    '[hardware]\n"hw.cost" = false\n')
    monkeypatch.setenv("CODESIGN_CACHE", str(tmp_path / "cache"))
    env = {**os.environ, "CODESIGN_STREAM_BYTES": "0"}
    result = run_cli("sweep", str(spec), "--executor", "dask", "--jobs", "1",
                     "--store", str(tmp_path / "dask.sqlite"), "--quiet", cwd=tmp_path,
                     env=env)
    assert result.returncode == 0, result.stderr
    inputs = tmp_path / "cache" / "inputs"
    assert not inputs.exists() or not list(inputs.iterdir())  # nothing shipped: by path
    monkeypatch.chdir(tmp_path)
    run_sweep(load_spec(spec), tmp_path / "serial.sqlite", executor="serial",
              stream=io.StringIO())
    assert content(tmp_path / "dask.sqlite") == content(tmp_path / "serial.sqlite")
