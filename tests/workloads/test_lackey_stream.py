"""Traces read in pieces: the same text, records, events, errors and results as whole.

A trace above the streaming limit is inflated, parsed and turned into events a block at a
time on every pass (:func:`workloads.memory.lackey.streamed`), and the MMU replay takes the
pieces (:func:`codesign.mmu.replay.drive`). Each layer is checked against the whole-array
path it stands in for, at block and piece sizes small enough to cut lines, gzip members and
access runs anywhere.
"""

from __future__ import annotations

import gzip
import itertools
import os
import tempfile
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign.errors import InputError
from codesign.harness import Point, resolve, run_resolved
from codesign.params import build
from codesign.registry import default_registry
from tests.workloads.test_lackey import MALFORMED, lines
from workloads.filecache import inflate, text_pieces
from workloads.memory import lackey, records
from workloads.memory.chunked import EventChunks, split, whole
from workloads.memory.events import Ev, summarize

DERANDOMIZED = settings(derandomize=True, deadline=None, max_examples=60,
                        suppress_health_check=[HealthCheck.function_scoped_fixture])


def _outcome(call):
    try:
        return call()
    except InputError as exc:
        return f"error: {exc}"


# -- the text: plain and gzip, in pieces --------------------------------------------------------

def _damaged(name: str, readable) -> InputError:
    return InputError(f"{name}: {readable.newlines} lines, {readable.size} bytes, {readable.why}")


@st.composite
def gzip_files(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(file bytes, the text they hold): one or more members, perhaps zero padding, perhaps
    damaged (cut short, a byte changed, junk after the last member)."""
    text = draw(st.binary(max_size=3000)) + b"\n".join(
        draw(st.lists(st.binary(max_size=40), max_size=40)))
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=3)))
    bounds = [0, *cuts, len(text)]
    raw = b"".join(gzip.compress(text[a:b], compresslevel=draw(st.integers(1, 9)))
                   for a, b in itertools.pairwise(bounds))
    damage = draw(st.sampled_from(["none", "none", "pad", "cut", "flip", "junk"]))
    if damage == "pad":
        raw += b"\0" * draw(st.integers(1, 50))
    elif damage == "cut":
        raw = raw[:draw(st.integers(2, len(raw) - 1))]
    elif damage == "flip":
        at = draw(st.integers(10, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1:]
    elif damage == "junk":
        raw += draw(st.binary(min_size=1, max_size=20).filter(lambda b: b[:1] not in (b"\0",
                                                                               b"\x1f")))
    return raw, text


@DERANDOMIZED
@given(gzip_files(), st.integers(1, 200))
def test_gzip_text_in_pieces_is_inflate_of_the_whole_file(file: tuple[bytes, bytes],
                                                          size: int) -> None:
    raw, _ = file
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.lackey.gz")
        Path(path).write_bytes(raw)
        expected = _outcome(lambda: inflate(raw, path, _damaged))
        got = _outcome(lambda: b"".join(text_pieces(path, _damaged, size=size)))
    assert got == expected


@DERANDOMIZED
@given(st.binary(max_size=500).filter(lambda b: b[:2] != b"\x1f\x8b"), st.integers(1, 64))
def test_plain_text_in_pieces_is_the_file(data: bytes, size: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.lackey")
        Path(path).write_bytes(data)
        pieces = list(text_pieces(path, size=size))
    assert b"".join(pieces) == data and all(pieces)


def test_gzip_text_in_pieces_keeps_the_inflated_size_cap(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(b"\n" * 100_000))
    monkeypatch.setenv("CODESIGN_MAX_INPUT_BYTES", "50000")
    with pytest.raises(InputError, match="inflates to more than the 50,000 bytes"):
        b"".join(text_pieces(path, size=64))


# -- records: scan in blocks against scan of the whole text ------------------------------------

@st.composite
def texts(draw: st.DrawFn) -> bytes:
    body = draw(st.lists(lines(), max_size=30))
    for _ in range(draw(st.integers(0, 3))):
        body.insert(draw(st.integers(0, len(body))), draw(st.sampled_from(MALFORMED)))
    return ("\n".join(body) + draw(st.sampled_from(["", "\n", "\r\n"]))).encode()


def _whole_scan(data: bytes, skip: bool):
    t = lackey.scan(data, "t.lackey", skip)
    return t.addr.tolist(), t.kind.tolist(), t.lines, t.skipped, t.first_bad, len(t.addr)


def _block_scan(data: bytes, skip: bool, cuts: list[int], block: int):
    totals = lackey.Totals()
    bounds = [0, *sorted(cuts), len(data)]
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    parts = list(lackey.scan_pieces(pieces, "t.lackey", skip, totals, block))
    addr = [a for p, _ in parts for a in p.tolist()]
    kind = [k for _, p in parts for k in p.tolist()]
    return addr, kind, totals.lines, totals.skipped, totals.first_bad, totals.records


@DERANDOMIZED
@given(texts(), st.booleans(), st.lists(st.integers(0, 2000), max_size=6), st.integers(1, 80))
def test_records_in_blocks_are_the_records_of_the_whole_text(data: bytes, skip: bool,
                                                             cuts: list[int],
                                                             block: int) -> None:
    cuts = [c for c in cuts if c <= len(data)]
    if not data:
        with pytest.raises(InputError, match=r"t\.lackey:1: empty lackey trace"):
            _block_scan(data, skip, cuts, block)
        return
    assert (_outcome(lambda: _block_scan(data, skip, cuts, block))
            == _outcome(lambda: _whole_scan(data, skip)))


# -- events: a streamed trace against the whole stream ----------------------------------------

def _params(path: Path, **values) -> lackey.LackeyParams:
    return build(lackey.LackeyParams, {"workload.path": str(path),
                                       **{f"workload.{k}": v for k, v in values.items()}})


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize(("kinds", "max_refs"), [("LSM", 0), ("ILSM", 0), ("LS", 100),
                                                 ("M", 0), ("LSM", 5999)])
def test_streamed_trace_is_the_whole_stream(trace: Path, cache: Path, packed: bool, kinds: str,
                                            max_refs: int) -> None:
    if packed:
        gz = trace.with_suffix(".lackey.gz")
        gz.write_bytes(gzip.compress(trace.read_bytes(), compresslevel=1))
        trace = gz
    p = _params(trace, kinds=kinds, max_refs=max_refs)
    expected = lackey.generate(p)
    assert isinstance(expected, np.ndarray)
    for block in (97, 4096, lackey.BLOCK):
        chunks = lackey.streamed(p, block=block)  # the survey keeps the selection on disk
        kept = whole(chunks)
        for entry in (cache / "streams").iterdir():
            entry.unlink()
        parsed = list(chunks)  # no kept selection: the text parsed again, and kept
        again = whole(chunks)
        assert len(list((cache / "streams").iterdir())) == 3
        for got in (kept, np.concatenate(parsed), again):
            assert np.array_equal(got, expected)
        assert (chunks.events, chunks.accesses) == (
            len(expected), int(np.count_nonzero(expected["op"] == Ev.ACCESS)))
        if block == 97 and not packed:  # (inflated text comes in larger pieces)
            assert len(parsed) > 10


def test_streaming_starts_above_the_limit(trace: Path, cache: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    size = trace.stat().st_size
    monkeypatch.setenv("CODESIGN_STREAM_BYTES", str(size))
    assert isinstance(lackey.generate(_params(trace)), np.ndarray)
    monkeypatch.setenv("CODESIGN_STREAM_BYTES", str(size - 1))
    assert isinstance(lackey.generate(_params(trace)), EventChunks)
    gz = trace.with_suffix(".lackey.gz")
    gz.write_bytes(gzip.compress(trace.read_bytes()))
    monkeypatch.setenv("CODESIGN_STREAM_BYTES", str(gz.stat().st_size * lackey.GZIP_RATIO))
    assert isinstance(lackey.generate(_params(gz)), np.ndarray)
    monkeypatch.setenv("CODESIGN_STREAM_BYTES", str(gz.stat().st_size * lackey.GZIP_RATIO - 1))
    assert isinstance(lackey.generate(_params(gz)), EventChunks)
    monkeypatch.setenv("CODESIGN_STREAM_BYTES", "-1")
    with pytest.raises(InputError, match=r"^\$CODESIGN_STREAM_BYTES: expected at least 0"):
        lackey.generate(_params(trace))


def _error(call) -> str:
    with pytest.raises(InputError) as info:
        call()
    return str(info.value)


def test_streamed_trace_refuses_what_the_whole_path_refuses(trace: Path, tmp_path: Path,
                                                            cache: Path) -> None:
    lines_ = trace.read_bytes().splitlines(keepends=True)
    cases = {
        "empty.lackey": b"",
        "bad.lackey": b"".join(lines_[:3000]) + b" L 0040zz00,4\n" + b"".join(lines_[3000:]),
        "cut.lackey": b"".join(lines_) + b" L 0040",
        "fetches.lackey": b"I  00401000,4\n" * 10,
        "cut.lackey.gz": gzip.compress(trace.read_bytes())[:-20],
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        p = _params(path)
        assert _error(lambda p=p: lackey.streamed(p, block=256)) == \
            _error(lambda p=p: lackey.generate(p)), name


def test_streamed_trace_skips_bad_lines_as_the_whole_path(trace: Path, tmp_path: Path,
                                                          cache: Path) -> None:
    lines_ = trace.read_bytes().splitlines(keepends=True)
    path = tmp_path / "dirty.lackey"
    path.write_bytes(b"".join(lines_[:10]) + b"junk\n" + b"".join(lines_[10:]) + b" S 12")
    p = _params(path, skip_bad_lines=True)
    with pytest.warns(RuntimeWarning, match=r"skipped 2 bad lackey lines \(first: line 11\)"):
        expected = lackey.generate(p)
    with pytest.warns(RuntimeWarning, match=r"skipped 2 bad lackey lines \(first: line 11\)"):
        chunks = lackey.streamed(p, block=300)
    assert np.array_equal(whole(chunks), expected)


def test_a_trace_changed_between_passes_is_refused(trace: Path, cache: Path) -> None:
    chunks = lackey.streamed(_params(trace), block=4096)
    whole(chunks)
    trace.write_bytes(trace.read_bytes().replace(b" L ", b" S ", 1))
    with pytest.raises(InputError, match="changed after its design-point key was computed"):
        whole(chunks)


@pytest.mark.parametrize("kept", [True, False])
def test_a_streamed_pass_holds_a_block_not_the_trace(tmp_path: Path, cache: Path, kept: bool,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Peak traced memory of a pass (its selection read from disk, or the text parsed; the
    events; a native replay) does not grow with the trace: four times the references over
    the same pages, the same peak within 25%."""
    if not kept:
        monkeypatch.setattr(records, "find", lambda identity, count: None)
    body = b"".join(b" L %08x,8\n" % (0x601000 + (i * 4104) % (64 << 12)) for i in range(20000))
    peaks = []
    for copies in (2, 8):
        path = tmp_path / f"t{copies}.lackey"
        path.write_bytes(body * copies)
        chunks = lackey.streamed(_params(path), block=1 << 16, piece=1 << 13)
        r = resolve(Point("lackey", "native", params={"workload.path": str(path),
                                                      "hw.cost": False}))
        run_resolved(r, chunks)  # compiled kernels loaded, caches warm
        tracemalloc.start()
        try:
            run_resolved(r, chunks)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] < 1.25 * peaks[0], peaks


# -- the replay: pieces cut anywhere give the whole stream's results ---------------------------

MEMORY_MECHANISMS = sorted(n for n, m in default_registry().mechanisms.items()
                           if "memory" in m.accepts)
STREAMS = {
    "mmap-churn": {"workload.cycles": 400, "workload.refs_per_cycle": 200},
    "multi-vm": {"workload.vm_time_slice": 9000, "workload.time_slice": 3000},
}
_WHOLE: dict[tuple, dict] = {}


def _point(workload: str, mechanism: str, warmup: float):
    return resolve(Point(workload, mechanism, params={**STREAMS[workload],
                                                      "measure.warmup": warmup,
                                                      "hw.cost": False}))


@pytest.mark.parametrize("mechanism", MEMORY_MECHANISMS)
@settings(derandomize=True, deadline=None, max_examples=4)
@given(workload=st.sampled_from(sorted(STREAMS)), warmup=st.sampled_from([0.0, 0.5]),
       cuts=st.lists(st.integers(1, 10**6), min_size=1, max_size=12))
def test_replay_of_pieces_is_replay_of_the_whole(mechanism: str, workload: str, warmup: float,
                                                 cuts: list[int]) -> None:
    r = _point(workload, mechanism, warmup)
    events = r.workload.generate(r.workload_params)
    assert np.count_nonzero(events["op"] == Ev.ACCESS) > 2 * (1 << 15)  # several slices
    key = (workload, mechanism, warmup)
    if key not in _WHOLE:
        _WHOLE[key] = dict(run_resolved(r, events))
    pieces = split(events, [c % len(events) for c in cuts])
    assert dict(run_resolved(r, pieces)) == _WHOLE[key]


def test_a_streamed_trace_gives_the_whole_traces_metrics(trace: Path, cache: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"workload.path": str(trace), "measure.warmup": 0.5, "hw.cost": False}
    expected = run_resolved(resolve(Point("lackey", "nested", params=params)))
    monkeypatch.setenv("CODESIGN_STREAM_BYTES", "0")
    r = resolve(Point("lackey", "nested", params=params))
    assert isinstance(r.workload.generate(r.workload_params), EventChunks)
    assert dict(run_resolved(r)) == dict(expected)


def test_zlib_is_what_gunzip_reads(tmp_path: Path) -> None:
    """A raw deflate stream is not gzip data: read as plain text, as the whole path does."""
    path = tmp_path / "t.lackey"
    path.write_bytes(zlib.compress(b" L 1000,8\n"))
    assert b"".join(text_pieces(path, size=3)) == path.read_bytes()


@settings(derandomize=True, deadline=None, max_examples=20)
@given(workload=st.sampled_from(sorted(STREAMS)),
       cuts=st.lists(st.integers(1, 10**6), max_size=12))
def test_summary_of_pieces_is_the_summary_of_the_whole(workload: str, cuts: list[int]) -> None:
    r = _point(workload, "native", 0.0)
    events = r.workload.generate(r.workload_params)
    assert summarize(split(events, [c % len(events) for c in cuts])) == summarize(events)


@pytest.mark.parametrize("step", [97, 4099])
def test_replay_of_small_pieces_is_replay_of_the_whole(step: int) -> None:
    """Pieces far smaller than a slice: most have no cut of their own, and the warm-up mark
    falls inside a carried remainder."""
    r = _point("mmap-churn", "nested", 0.5)
    events = r.workload.generate(r.workload_params)
    key = ("mmap-churn", "nested", 0.5)
    if key not in _WHOLE:
        _WHOLE[key] = dict(run_resolved(r, events))
    assert dict(run_resolved(r, split(events, range(step, len(events), step)))) == _WHOLE[key]
