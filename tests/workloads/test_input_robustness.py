"""Trace and capture input robustness (issue 11): the parse cache is checked before it is used,
keys and evaluations see the same bytes, reads are bounded, damaged or empty captures and
records longer than the snaplen are one-line InputErrors; and fuzzing of both readers."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import struct
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign.errors import InputError
from codesign.harness import Point, evaluate, resolve, run_resolved
from codesign.sweep.executors import evaluate_chunk
from codesign.sweep.expand import expand
from codesign.sweep.runner import run_sweep
from codesign.sweep.spec import parse_spec
from codesign.sweep.store import Store
from workloads import filecache
from workloads.memory import lackey
from workloads.packets import pcap

FUZZ = settings(derandomize=True, deadline=None, max_examples=120,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
DATA = Path(__file__).resolve().parents[1] / "data"
CAPTURE = DATA / "loopback_http.pcap"


def one_line_error(call: object, *args: object, **kwargs: object) -> str:
    """The message of the InputError ``call(*args)`` raises, checked to be one line."""
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    message = str(info.value)
    assert "\n" not in message
    return message


def entry_of(cache: Path, tag: str, version: int) -> Path:
    (entry,) = cache.glob(f"{tag}-v{version}-*.npz")
    return entry


def arrays_of(entry: Path) -> dict[str, np.ndarray]:
    with np.load(entry, allow_pickle=False) as z:
        return {name: z[name] for name in z.files}


def resave(entry: Path, tag: str, version: int, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to a cache entry with a checksum that matches them: what a buggy writer
    (or a deliberate edit) would leave, so only the per-format range checks can catch it."""
    digest = entry.name.split("-")[-1].removesuffix(".npz")
    filecache.store(entry, filecache._material(tag, version, digest), arrays)


def damaged_warning(caught: list[warnings.WarningMessage], entry: Path) -> str:
    (warning,) = [w for w in caught if "damaged cache entry" in str(w.message)]
    message = str(warning.message)
    assert warning.category is RuntimeWarning and "\n" not in message
    assert message.startswith(f"{entry}: damaged cache entry (")
    return message


# -- 1. the parse cache is checked before use ------------------------------------------------


def test_an_edited_lackey_cache_entry_is_discarded_and_rebuilt(trace: Path, cache: Path) -> None:
    first = lackey.load(trace)
    entry = entry_of(cache, "lackey", lackey.FORMAT)
    arrays = arrays_of(entry)
    arrays["addr"][:] = arrays["addr"][0]  # every reference on one page; checksum left as is
    np.savez(entry, **arrays)
    with pytest.warns(RuntimeWarning) as caught:
        again = lackey.load(trace)
    message = damaged_warning(caught, entry)
    assert "checksum mismatch" in message and str(trace) in message
    assert np.array_equal(again.addr, first.addr)
    assert np.array_equal(arrays_of(entry)["addr"], first.addr)  # rebuilt on disk
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lackey.load(trace)  # the rebuilt entry is sound


def test_an_edited_cache_entry_does_not_change_metrics(trace: Path, cache: Path) -> None:
    point = Point("lackey", "native", params={"workload.path": str(trace), "hw.cost": False})
    before = evaluate(point)
    entry = entry_of(cache, "lackey", lackey.FORMAT)
    arrays = arrays_of(entry)
    arrays["addr"][:] = arrays["addr"][0]
    np.savez(entry, **arrays)
    with pytest.warns(RuntimeWarning, match="damaged cache entry"):
        after = evaluate(point)
    assert dict(after) == dict(before) and before["tlb.l1.misses"] > 1


@pytest.mark.parametrize(("damage", "why"), [
    (lambda a: a.update(kind=np.full_like(a["kind"], 9)), "kind code 9 is not one of 0..3"),
    (lambda a: a.update(size=np.full_like(a["size"], 10**9)), "size 1000000000 has more"),
    (lambda a: a.update(kind=a["kind"][:-1]), "arrays of 5999 and 6000 records"),
    (lambda a: a.update(addr=a["addr"].astype(np.int64)), "array addr is int64, expected uint64"),
    (lambda a: a.pop("meta"), "arrays ['addr', 'kind', 'size'], expected"),
    (lambda a: a.update(meta=np.array([10, 0, 0])), "meta (lines 10, skipped 0, first bad 0) "
                                                    "does not fit 6000 records"),
    (lambda a: a.update(meta=np.array([6001, 2, 0])), "meta (lines 6001, skipped 2, first bad 0)"),
], ids=["kind", "size", "lengths", "dtype", "names", "lines", "first-bad"])
def test_lackey_cache_entries_out_of_range_are_rebuilt(trace: Path, cache: Path, damage: object,
                                                       why: str) -> None:
    first = lackey.load(trace)
    entry = entry_of(cache, "lackey", lackey.FORMAT)
    arrays = arrays_of(entry)
    del arrays[filecache.CHECKSUM]
    damage(arrays)  # type: ignore[operator]
    resave(entry, "lackey", lackey.FORMAT, arrays)
    with pytest.warns(RuntimeWarning) as caught:
        ev = lackey.generate(lackey.LackeyParams(path=str(trace)))  # never an IndexError
    assert why in damaged_warning(caught, entry)
    again = lackey.load(trace)
    assert np.array_equal(again.kind, first.kind) and np.array_equal(again.size, first.size)
    assert len(ev) > 6000


def test_a_cache_entry_without_checksum_or_under_another_name_is_rebuilt(
        trace: Path, tmp_path: Path, cache: Path) -> None:
    lackey.load(trace)
    entry = entry_of(cache, "lackey", lackey.FORMAT)
    arrays = arrays_of(entry)
    del arrays[filecache.CHECKSUM]
    np.savez(entry, **arrays)  # the old layout under the current name
    with pytest.warns(RuntimeWarning) as caught:
        lackey.load(trace)
    assert "(no checksum)" in damaged_warning(caught, entry)
    # A sound entry copied over another content's entry: its checksum names its source.
    other = tmp_path / "other.lackey"
    other.write_text(" L 00601000,8\n")
    lackey.load(other)
    target = cache / f"lackey-v{lackey.FORMAT}-{filecache.file_digest(other)}.npz"
    target.write_bytes(entry.read_bytes())
    with pytest.warns(RuntimeWarning) as caught:
        assert lackey.load(other).addr.tolist() == [0x601000]
    assert "checksum mismatch" in damaged_warning(caught, target)


def test_a_damaged_pcap_cache_entry_is_rebuilt(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "c.pcap"
    path.write_bytes(CAPTURE.read_bytes())
    first, _ = pcap.load(path)
    entry = entry_of(cache, "pcap", pcap.FORMAT)
    arrays = arrays_of(entry)
    arrays["packets"]["frame_bytes"] = 64  # checksum left as is
    np.savez(entry, **arrays)
    with pytest.warns(RuntimeWarning) as caught:
        again, _ = pcap.load(path)
    assert "checksum mismatch" in damaged_warning(caught, entry)
    assert again.tobytes() == first.tobytes()
    for field, value, why in [("vlan", 4095, "record 1: vlan 4095 is more than 4094"),
                              ("direction", 3, "record 1: direction 3 is not 0, 1 or 2"),
                              ("time_ns", 7, "record 1: time_ns 7 is not the first at 0"),
                              ("frame_bytes", 10, "record 1: frame_bytes 10 is below 64"),
                              ("xid", 4, "record 1: xid 4 is set on a frame without a "
                                         "direction")]:
        packets = first.copy()
        packets[field][0] = value
        resave(entry, "pcap", pcap.FORMAT, {"packets": packets})
        with pytest.warns(RuntimeWarning) as caught:
            again, _ = pcap.load(path)
        assert why in damaged_warning(caught, entry), field
        assert again.tobytes() == first.tobytes()
    resave(entry, "pcap", pcap.FORMAT, {"packets": first[:0]})
    with pytest.warns(RuntimeWarning, match=r"damaged cache entry \(no records\)"):
        pcap.load(path)


def test_an_unwritable_cache_is_a_warning_not_an_error(trace: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("CODESIGN_CACHE", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match=r"cannot write the cache entry .*; the parse is "
                                            "not kept"):
        t = lackey.load(trace)
    assert len(t.addr) == 6000


# -- 2. a design-point key and its evaluation see the same bytes -----------------------------

OLD = b" L 00601000,8\n S 00a01008,8\n"
NEW = b" L 00601000,8\n S 00601008,8\n"  # same length, one page instead of two


def rewrite_keeping_stamp(path: Path, data: bytes) -> None:
    """Rewrite a file in place (same inode, same size) and restore its modification time."""
    st = os.stat(path)
    assert len(data) == st.st_size
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    now = os.stat(path)
    assert (now.st_ino, now.st_size, now.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)


def lackey_point(path: Path) -> Point:
    return Point("lackey", "native", params={"workload.path": str(path), "hw.cost": False})


def metrics_of(data: bytes, where: Path) -> dict[str, float]:
    where.write_bytes(data)
    return dict(evaluate(lackey_point(where)))


def test_a_rewrite_after_resolve_never_pairs_the_old_key_with_new_metrics(
        tmp_path: Path, cache: Path) -> None:
    new_metrics = metrics_of(NEW, tmp_path / "new.lackey")
    path = tmp_path / "t.lackey"
    path.write_bytes(OLD)
    old = resolve(lackey_point(path))
    old_metrics = dict(run_resolved(old))
    assert old_metrics != new_metrics
    rewrite_keeping_stamp(path, NEW)
    message = one_line_error(run_resolved, old)
    assert message == (f"workload.path: {path} changed after its design-point key was "
                       "computed; run again")
    again = resolve(lackey_point(path))  # run again: keyed by the new bytes
    assert again.key != old.key
    assert dict(run_resolved(again)) == new_metrics
    assert again.params["workload.path"] == str(path)


def test_a_stale_memoised_digest_is_corrected_by_the_parse(tmp_path: Path, cache: Path) -> None:
    # A rewrite within the clock's granularity keeps even the change time: the memo then
    # holds the old digest for the file's current stamp, as simulated here.
    path = tmp_path / "t.lackey"
    path.write_bytes(NEW)
    stamp = filecache._stamp(path, os.stat(path))
    filecache._DIGESTS[stamp] = filecache.hashlib.sha256(OLD).hexdigest()
    stale = resolve(lackey_point(path))
    assert one_line_error(run_resolved, stale).endswith("changed after its design-point key "
                                                        "was computed; run again")
    assert filecache._DIGESTS[stamp] == filecache.hashlib.sha256(NEW).hexdigest()
    fresh = resolve(lackey_point(path))
    assert fresh.key != stale.key
    assert dict(run_resolved(fresh)) == metrics_of(NEW, tmp_path / "copy.lackey")


def _forget_this_process(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """A new run: no digest memoised in this process; which files get hashed is recorded."""
    monkeypatch.setattr(filecache, "_DIGESTS", {})
    monkeypatch.setattr(filecache, "_HASHED_AT", {})
    hashed: list[Path] = []
    real = filecache._sha256

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(filecache, "_sha256", counting)
    return hashed


def test_a_settled_digest_keys_and_loads_the_file_without_reading_it_again(
        tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.lackey"
    path.write_bytes(OLD)
    monkeypatch.setattr(filecache, "SETTLED_NS", -10**15)  # as if written long ago
    hashed = _forget_this_process(monkeypatch)
    first = dict(evaluate(lackey_point(path)))
    assert hashed == [path]  # the key's digest; the parse reuses it
    assert len(list((cache / "digests").iterdir())) == 1
    hashed = _forget_this_process(monkeypatch)  # the next run
    assert dict(evaluate(lackey_point(path))) == first and hashed == []
    # new bytes, new stamp: hashed again, never served the old digest
    hashed = _forget_this_process(monkeypatch)
    path.write_bytes(NEW + b" L 00601000,8\n")
    assert dict(evaluate(lackey_point(path))) != first and hashed == [path]
    # a damaged memo is only a digest computed again
    hashed = _forget_this_process(monkeypatch)
    for memo in (cache / "digests").iterdir():
        memo.write_text("not a digest\n")
    assert filecache.file_digest(path) == filecache.hashlib.sha256(path.read_bytes()).hexdigest()
    assert hashed == [path]


def test_a_digest_of_a_file_just_written_is_not_trusted_by_the_parse(
        tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.lackey"
    path.write_bytes(OLD)
    hashed = _forget_this_process(monkeypatch)
    evaluate(lackey_point(path))
    # written within SETTLED_NS of its hashing: a rewrite could keep its stamp, so the parse
    # hashes what it reads again, and nothing is kept for later runs
    assert hashed == [path, path] and not (cache / "digests").exists()


@pytest.mark.parametrize("stamp", ["restored-mtime", "same-stamp"])
def test_a_sweep_never_stores_new_content_metrics_under_the_old_key(tmp_path: Path, cache: Path,
                                                                    stamp: str) -> None:
    old_metrics = metrics_of(OLD, tmp_path / "old.lackey")
    new_metrics = metrics_of(NEW, tmp_path / "new.lackey")
    assert old_metrics != new_metrics
    path = tmp_path / "t.lackey"
    path.write_bytes(OLD)
    spec = parse_spec({"version": 1, "name": "t",
                       "workload": {"name": "lackey", "path": str(path)},
                       "mechanism": {"name": "native", "hw": {"cost": False}}})
    expansion = expand(spec)  # keys computed from the old bytes
    (old_key,) = [p.key for p in expansion.points]
    rewrite_keeping_stamp(path, NEW)
    if stamp == "same-stamp":  # a rewrite within the clock's granularity: even ctime kept
        now = filecache._stamp(path, os.stat(path))
        filecache._DIGESTS[now] = filecache.hashlib.sha256(OLD).hexdigest()
    store = tmp_path / "s.sqlite"
    outcome = run_sweep(spec, store, executor="serial", expansion=expansion,
                        stream=io.StringIO())
    assert outcome.failed == 1 and outcome.computed == 0
    with Store.open(store) as s:
        rows = {r["key"]: r for r in s.rows()}
    assert rows[old_key]["status"] == "failed" and rows[old_key]["metrics"] == {}
    if stamp == "same-stamp":  # the worker's key matches the driver's: the parse refuses
        assert rows[old_key]["error"] == (f"InputError: workload.path: {path} changed after "
                                          "its design-point key was computed; run again")
    again = run_sweep(spec, store, executor="serial", stream=io.StringIO())
    assert again.computed == 1
    with Store.open(store) as s:
        rows = {r["key"]: r for r in s.rows()}
    (new_key,) = set(rows) - {old_key}
    assert rows[new_key]["metrics"] == new_metrics
    assert rows[old_key]["status"] == "failed"


# -- 3. reads are bounded: devices, FIFOs, directories, sizes, gzip bombs ----------------------


READERS = {
    "lackey.load": lackey.load,
    "pcap.load": pcap.load,
    "file_digest": filecache.file_digest,
    "lackey.identity": lambda p: lackey.identity(lackey.LackeyParams(path=str(p))),
    "pcap.identity": lambda p: pcap.identity(pcap.PcapParams(path=str(p))),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_character_device_is_refused_without_reading_it(reader: str, device: str,
                                                          cache: Path) -> None:
    assert one_line_error(READERS[reader], device) == (
        f"workload.path: {device}: a character device, not a regular file; expected a file")


@pytest.mark.parametrize("reader", READERS)
def test_a_fifo_is_refused_without_blocking(reader: str, tmp_path: Path, cache: Path) -> None:
    fifo = tmp_path / "t.lackey"
    os.mkfifo(fifo)

    def unblock() -> None:  # were the reader to open it and wait for a writer: EOF, not a hang
        with contextlib.suppress(OSError):  # ENXIO: no reader waiting, nothing to unblock
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    timer = threading.Timer(5.0, unblock)
    timer.start()
    try:
        message = one_line_error(READERS[reader], fifo)
    finally:
        timer.cancel()
    assert message == (f"workload.path: {fifo}: a FIFO (named pipe), not a regular file; "
                       "expected a file")


@pytest.mark.parametrize("reader", READERS)
def test_a_directory_is_refused(reader: str, tmp_path: Path, cache: Path) -> None:
    assert one_line_error(READERS[reader], tmp_path) == (
        f"workload.path: {tmp_path}: a directory, not a regular file; expected a file")


def test_a_file_over_the_input_cap_is_refused(tmp_path: Path, cache: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESIGN_MAX_INPUT_BYTES", "1000")
    path = tmp_path / "big.lackey"
    path.write_bytes(b" L 00601000,8\n" * 100)
    for reader in (lackey.load, filecache.file_digest):
        assert one_line_error(reader, path) == (f"workload.path: {path}: 1,400 bytes, more than "
                                                "the 1,000 bytes this input may have")


@pytest.mark.parametrize("name", ["bomb.lackey.gz", "bomb.pcap.gz"])
def test_a_gzip_bomb_is_refused_at_the_cap(name: str, tmp_path: Path, cache: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESIGN_MAX_INPUT_BYTES", "100000")
    path = tmp_path / name
    text = b" L 00601000,8\n" * 1_000_000 if "lackey" in name else \
        CAPTURE.read_bytes()[:24] + bytes(14_000_000)
    path.write_bytes(gzip.compress(text, compresslevel=9))
    assert path.stat().st_size < 100_000  # small on disk: only inflating it is refused
    reader = lackey.load if "lackey" in name else pcap.load
    assert one_line_error(reader, path) == (f"{path}: inflates to more than the 100,000 bytes "
                                            "this input may have")
    assert not list(cache.glob("*.npz"))


# -- 4. a damaged .pcap.gz names the file and the bytes readable -----------------------------


@pytest.mark.parametrize("damage", ["cut", "flipped", "crc", "trailing"])
def test_a_corrupt_gzip_capture_names_the_file_and_the_readable_bytes(
        tmp_path: Path, cache: Path, damage: str) -> None:
    raw = CAPTURE.read_bytes()
    packed = bytearray(gzip.compress(raw))
    if damage == "cut":
        packed = packed[: len(packed) // 2]
    elif damage == "flipped":
        packed[len(packed) // 2: len(packed) // 2 + 32] = bytes(32)
    elif damage == "crc":
        packed[-8] ^= 0xFF
    else:
        packed += b"garbage"
    path = tmp_path / "c.pcap.gz"
    path.write_bytes(bytes(packed))
    message = one_line_error(pcap.load, path)
    match = re.fullmatch(re.escape(str(path)) + r": corrupt gzip data \((.+)\) after ([\d,]+) "
                         r"readable bytes; expected a complete gzip-compressed pcap capture",
                         message)
    assert match, message
    readable = int(match.group(2).replace(",", ""))
    if damage in ("crc", "trailing"):
        assert readable == len(raw)
    else:
        assert 0 < readable < len(raw)
    if damage == "trailing":
        assert match.group(1) == "7 bytes of trailing data after the last gzip member"
    assert not list(cache.glob("*.npz"))


def test_a_failed_points_stored_error_names_the_damaged_capture(tmp_path: Path,
                                                                cache: Path) -> None:
    path = tmp_path / "c.pcap.gz"
    path.write_bytes(gzip.compress(CAPTURE.read_bytes())[:-20])
    resolved = resolve(Point("pcap", "native-net", params={"workload.path": str(path),
                                                           "hw.cost": False}))
    (result,) = evaluate_chunk([(resolved.key, resolved.point)])
    assert result.status == "failed"
    assert result.error.startswith(f"InputError: {path}: corrupt gzip data (cut short) after ")


def test_a_corrupt_gzip_trace_with_trailing_garbage_names_its_last_line(
        trace: Path, tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "t.lackey.gz"
    path.write_bytes(gzip.compress(trace.read_bytes()) + b"\x1f")
    lines = trace.read_bytes().count(b"\n")
    assert one_line_error(lackey.load, path) == (
        f"{path}:{lines + 1}: corrupt gzip data (1 bytes of trailing data after the last gzip "
        f"member) after {lines} readable lines; expected a complete gzip-compressed lackey trace")


# -- 5. a capture without frames; 6. incl_len above the snaplen ------------------------------


def pcap_bytes(records: list[tuple[bytes, int]], snaplen: int = 65535) -> bytes:
    """A little-endian µs capture of (captured bytes, orig_len) records, built with struct."""
    out = [struct.pack("<IHHiIII", pcap.MAGIC_US, 2, 4, 0, 0, snaplen, 1)]
    for i, (data, orig) in enumerate(records):
        out.append(struct.pack("<IIII", 1, i, len(data), orig) + data)
    return b"".join(out)


FRAME = bytes.fromhex("020000000101 02ff00000001 0800") + bytes(46)


@pytest.mark.parametrize("zipped", [False, True])
def test_a_capture_without_frames_is_refused(tmp_path: Path, cache: Path, zipped: bool) -> None:
    path = tmp_path / ("empty.pcap.gz" if zipped else "empty.pcap")
    empty = pcap_bytes([])
    path.write_bytes(gzip.compress(empty) if zipped else empty)
    expected = (f"{path}: no Ethernet frames in the capture; expected at least one packet "
                "record after the 24-byte global header")
    assert one_line_error(pcap.load, path) == expected
    assert one_line_error(evaluate, Point("pcap", "native-net", params={
        "workload.path": str(path), "hw.cost": False})) == expected
    assert not list(cache.glob("*.npz"))


def test_a_record_longer_than_the_snaplen_is_named_by_number_and_offset(tmp_path: Path,
                                                                        cache: Path) -> None:
    path = tmp_path / "snap.pcap"
    path.write_bytes(pcap_bytes([(FRAME, 60), (FRAME + bytes(5), 200)], snaplen=64))
    offset = 24 + 16 + 60
    assert one_line_error(pcap.load, path) == (
        f"{path}: bad record: incl_len 65 is more than the snaplen 64 of the global header at "
        f"byte offset {offset} (record 2)")


def test_large_frames_within_the_snaplen_are_read(tmp_path: Path, cache: Path) -> None:
    jumbo = FRAME + bytes(9000 - len(FRAME))
    for snaplen in (262144, 9000, 0):  # 0: no snaplen given, as libpcap reads it
        path = tmp_path / f"jumbo-{snaplen}.pcap"
        path.write_bytes(pcap_bytes([(jumbo, 9000), (FRAME, 60)], snaplen=snaplen))
        records, _ = pcap.load(path)
        assert records["frame_bytes"].tolist() == [9004, 64]
    cut = pcap.parse_bytes(pcap_bytes([(jumbo[:96], 9000)], snaplen=96))  # cut at the snaplen
    assert cut["frame_bytes"].tolist() == [9004]


# -- fuzzing: random and mutated input either parses to sound arrays or is an InputError ------


def mutated(data: st.DataObject, base: bytes, region: int, edits: tuple[str, ...]) -> bytes:
    """``base`` with a few random ``edits`` (a fifth of them in its first ``region`` bytes,
    where headers are), or random bytes instead."""
    if data.draw(st.integers(0, 9)) == 0:
        return data.draw(st.binary(max_size=200))
    raw = bytearray(base)
    for _ in range(data.draw(st.integers(1, 6))):
        what = data.draw(st.sampled_from(edits))
        top = region if data.draw(st.integers(0, 4)) == 0 else len(raw)
        at = data.draw(st.integers(0, max(0, min(top, len(raw)) - 1)))
        if what == "set" and raw:
            raw[at] = data.draw(st.sampled_from([0, 9, 10, 13, 32, 44, 48, 57, 65, 76, 83, 255,
                                                 data.draw(st.integers(0, 255))]))
        elif what == "cut":
            del raw[at:]
        elif what == "insert":
            raw[at:at] = data.draw(st.binary(max_size=12))
        else:
            del raw[at:at + data.draw(st.integers(1, 40))]
    return bytes(raw)


def packed(data: st.DataObject, body: bytes) -> tuple[bytes, str]:
    """The body plain or gzip'd, the gzip data sometimes damaged; and a file suffix."""
    if not data.draw(st.booleans()):
        return body, ""
    zipped = bytearray(gzip.compress(body))
    what = data.draw(st.sampled_from(["whole", "whole", "cut", "flip"]))
    if what == "cut":
        zipped = zipped[: data.draw(st.integers(0, len(zipped)))]
    elif what == "flip":
        zipped[data.draw(st.integers(0, len(zipped) - 1))] ^= data.draw(st.integers(1, 255))
    return bytes(zipped), ".gz"


def no_damaged_entry(caught: list[warnings.WarningMessage]) -> None:
    assert not [w for w in caught if "damaged cache entry" in str(w.message)]


LACKEY_BASE = b"==7== Lackey\nI  00400000,4\n" + b"".join(
    gzip.decompress((DATA / "gzip_deflate.lackey.gz").read_bytes()).splitlines(True)[:40])


def trace_arrays(t: lackey.Trace) -> dict[str, np.ndarray]:
    return {"addr": t.addr, "size": t.size, "kind": t.kind,
            "meta": np.array([t.lines, t.skipped, t.first_bad], dtype=np.int64)}


@FUZZ
@given(data=st.data(), skip=st.booleans())
def test_fuzzed_lackey_input_parses_soundly_or_is_an_input_error(
        data: st.DataObject, skip: bool, tmp_path: Path, cache: Path) -> None:
    body = mutated(data, LACKEY_BASE, 40, ("set", "cut", "insert", "delete"))
    try:
        t = lackey.scan(body, "t.lackey", skip_bad_lines=skip)
    except InputError as exc:
        assert str(exc).startswith("t.lackey:") and "\n" not in str(exc)
    else:
        assert lackey.check_arrays(trace_arrays(t)) is None
    raw, suffix = packed(data, body)
    path = tmp_path / f"t.lackey{suffix}"
    path.write_bytes(raw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            first = lackey.load(path, skip)
        except InputError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc)
            return
        again = lackey.load(path, skip)  # from the cache: the stored entry passes its checks
    no_damaged_entry(caught)
    assert lackey.check_arrays(trace_arrays(first)) is None
    assert np.array_equal(first.addr, again.addr) and np.array_equal(first.kind, again.kind)


@FUZZ
@given(data=st.data())
def test_fuzzed_pcap_input_parses_soundly_or_is_an_input_error(
        data: st.DataObject, tmp_path: Path, cache: Path) -> None:
    base = CAPTURE.read_bytes() if data.draw(st.booleans()) else pcap_bytes(
        [(FRAME, 60), (FRAME[:40], 1514)], snaplen=data.draw(st.sampled_from([40, 65535])))
    # Mostly bytes overwritten in place: an insertion or deletion moves every later record
    # header, and the parse mostly stops at the first.
    body = mutated(data, base, 64, ("set",) * 6 + ("cut", "insert", "delete"))
    try:
        records = pcap.parse_bytes(body, "c.pcap")
    except InputError as exc:
        assert str(exc).startswith("c.pcap: ") and "\n" not in str(exc)
    else:
        assert not len(records) or pcap.check_records({"packets": records}) is None
    raw, suffix = packed(data, body)
    path = tmp_path / f"c.pcap{suffix}"
    path.write_bytes(raw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            first, _ = pcap.load(path)
        except InputError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc)
            return
        again, _ = pcap.load(path)
    no_damaged_entry(caught)
    assert pcap.check_records({"packets": first}) is None
    assert first.tobytes() == again.tobytes()


def test_a_file_is_hashed_piecewise_as_it_would_be_read_whole(tmp_path: Path) -> None:
    """Digests are computed a few MiB at a time (a trace of gigabytes is keyed without being
    held in memory): the same digest as the whole file's bytes, the same refusals."""
    import hashlib

    from codesign.inputfile import read_bytes, sha256_of

    path = tmp_path / "big.lackey"
    data = np.random.default_rng(3).integers(0, 256, 9 * (1 << 20) + 17, np.uint8).tobytes()
    path.write_bytes(data)
    assert sha256_of(path, limit=len(data)) == hashlib.sha256(data).hexdigest()
    assert filecache.file_digest(path) == hashlib.sha256(data).hexdigest()
    for reader in (read_bytes, sha256_of):
        with pytest.raises(InputError) as info:
            reader(path, limit=len(data) - 1, label="workload.path: t")
        assert str(info.value) == ("workload.path: t: 9,437,201 bytes, more than the "
                                   "9,437,200 bytes this input may have")
