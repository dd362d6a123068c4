"""A capture read a block at a time (:func:`workloads.packets.pcap.streamed`): the frames of
the capture loaded whole, in time order, with its errors at the same byte offsets, whatever
the block size."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from codesign.errors import InputError
from codesign.params import build
from codesign.platforms import load_platform
from codesign.registry import Registry, default_registry
from workloads.packets import WORKLOADS, pcap
from workloads.packets.chunked import FrameChunks, whole
from workloads.packets.synthetic import MixParams, generate_imix

from .test_pcap import MALFORMED, MALFORMED_IDS

REGISTRY = Registry.of(WORKLOADS)


def gen(path: Path, **params: object) -> object:
    w = REGISTRY.workload("pcap")
    return w.generate(build(w.params, {"workload.path": str(path),
                                       **{f"workload.{k}": v for k, v in params.items()}}))


def shuffled_locally(data: bytes, window: int, seed: int) -> bytes:
    """The capture with its records permuted within windows of ``window`` records (as a
    multi-queue capture interleaves its queues' timestamps)."""
    offsets, p = [], 24
    while p < len(data):
        incl = struct.unpack_from("<I", data, p + 8)[0]
        offsets.append((p, p + 16 + incl))
        p += 16 + incl
    rng = np.random.default_rng(seed)
    order = np.concatenate([lo + rng.permutation(min(window, len(offsets) - lo))
                            for lo in range(0, len(offsets), window)])
    return data[:24] + b"".join(data[offsets[i][0]:offsets[i][1]] for i in order)


@pytest.fixture
def capture_file(tmp_path: Path) -> Path:
    s = generate_imix(MixParams(packets=3_000, offered_gbps=3.0, vms=3, vlan_base=10))
    path = tmp_path / "c.pcap"
    pcap.write(s, path)
    # frames another tool captured carry no tag: a third of these lose theirs, so their
    # direction is workload.direction's
    path.write_bytes(path.read_bytes().replace(pcap.TAG, b"none", 1000))
    return path


@pytest.mark.parametrize("block", [40, 1000, 1 << 16])
@pytest.mark.parametrize("kind", ["ordered", "shuffled", "gzip", "max-packets", "tx"])
def test_streamed_capture_is_the_capture_loaded_whole(capture_file: Path, cache: Path,
                                                      block: int, kind: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    data = capture_file.read_bytes()
    if kind == "shuffled":
        data = shuffled_locally(data, 50, 1)
    if kind == "gzip":
        data = gzip.compress(data)
    path = capture_file.with_suffix(".pcap.gz" if kind == "gzip" else ".x.pcap")
    path.write_bytes(data)
    params = {"max_packets": 1234} if kind == "max-packets" else (
        {"direction": "tx"} if kind == "tx" else {})
    want = gen(path, **params)
    assert isinstance(want, np.ndarray)
    if kind == "tx":  # the untagged frames are sent, the others received
        assert set(want["direction"].tolist()) == {1, 2}
    p = build(REGISTRY.workload("pcap").params,
              {"workload.path": str(path), **{f"workload.{k}": v for k, v in params.items()}})
    parts = pcap.streamed(p, block=block)
    assert len(parts) == len(want)
    got = whole(parts)
    assert got.tobytes() == want.tobytes()
    assert whole(parts).tobytes() == want.tobytes()  # a second pass: the same
    if kind == "shuffled":
        assert len(list(parts)) > 1 or block == 1 << 16
    monkeypatch.setenv("CODESIGN_STREAM_BYTES", "0")
    chunks = gen(path, **params)
    assert isinstance(chunks, FrameChunks) and whole(chunks).tobytes() == want.tobytes()


@pytest.mark.parametrize(("data", "message"), MALFORMED, ids=MALFORMED_IDS)
@pytest.mark.parametrize("block", [7, 50, 1 << 16])
def test_streamed_errors_are_the_whole_parses(tmp_path: Path, cache: Path, data: bytes,
                                              message: str, block: int) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(data)
    with pytest.raises(InputError) as whole_error:
        pcap.load(path)
    with pytest.raises(InputError) as streamed_error:
        for _ in pcap.record_blocks(str(path), str(path), block):
            pass
    assert str(streamed_error.value) == str(whole_error.value)
    assert re.match(rf"^{re.escape(str(path))}: {message}", str(streamed_error.value))


def test_a_capture_without_records_is_refused_streamed(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    p = build(REGISTRY.workload("pcap").params, {"workload.path": str(path)})
    with pytest.raises(InputError, match="no Ethernet frames in the capture"):
        pcap.streamed(p)


def test_a_capture_that_changes_between_passes_is_refused(capture_file: Path,
                                                          cache: Path) -> None:
    p = build(REGISTRY.workload("pcap").params, {"workload.path": str(capture_file)})
    parts = pcap.streamed(p, block=1000)
    next(iter(parts))
    capture_file.write_bytes(capture_file.read_bytes() + capture_file.read_bytes()[24:100])
    with pytest.raises(InputError, match="changed after its design-point key"):
        list(parts)


def test_a_nic_mechanism_gives_the_same_metrics_on_a_streamed_capture(
        capture_file: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    m = default_registry().mechanism("sriov")
    params = build(m.params, {})
    platform = load_platform("kvm-nehalem").only(m.costs)
    want = m.run(gen(capture_file), params, platform)
    monkeypatch.setenv("CODESIGN_STREAM_BYTES", "0")
    parts = gen(capture_file)
    assert isinstance(parts, FrameChunks)
    assert m.run(parts, params, platform) == want
