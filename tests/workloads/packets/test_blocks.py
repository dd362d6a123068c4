"""Streams longer than a block (:data:`workloads.packets.synthetic.BLOCK`) are drawn a block
at a time: valid, in the workload's exact proportions and rates, the same whether returned
whole or in pieces, and the same frames as drawn whole wherever no random draw is involved."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from codesign.params import build
from codesign.registry import default_registry
from workloads.packets import synthetic
from workloads.packets.chunked import FrameChunks, whole
from workloads.packets.frames import Dir, summarize, validate

BLOCK = 1000


def gen(name: str, **params: Any) -> Any:
    w = default_registry().workload(name)
    return w.generate(build(w.params, {f"workload.{k}": v for k, v in params.items()}))


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "BLOCK", BLOCK)


CASES = {
    "fixed": dict(packets=3_500, offered_gbps=4.0),
    "imix-both": dict(packets=4_321, offered_gbps=8.0, direction="both", vms=3),
    "bimodal-poisson": dict(packets=3_001, offered_gbps=3.0, arrival="poisson",
                            large_fraction=0.3),
    "sequence-onoff": dict(packets=2_999, offered_pps=200_000, arrival="onoff", burst=300,
                           sizes="aaag"),
    "bulk": dict(packets=3_333, offered_gbps=9.0, vms=2, flows=3, ack_every=3),
}


@pytest.mark.parametrize("case", list(CASES))
def test_block_streams_are_valid_and_the_same_in_pieces(case: str, small_blocks: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    name = case.split("-")[0]
    params = CASES[case]
    s = gen(name, **params)
    assert isinstance(s, np.ndarray)
    validate(s)
    monkeypatch.setenv("CODESIGN_STREAM_BYTES", "1000")
    parts = gen(name, **params)
    assert isinstance(parts, FrameChunks) and len(parts) == len(s)
    sizes = [len(p) for p in parts]
    assert len(sizes) > 2 and max(sizes) <= 2 * BLOCK
    assert (whole(parts) == s).all()
    assert (whole(parts) == s).all()  # every pass is the stream


def test_exact_mixes_hold_over_blocks(small_blocks: None) -> None:
    s = gen("imix", packets=4_321, offered_gbps=8.0, direction="both")
    for d, n in ((Dir.RX, 2_161), (Dir.TX, 2_160)):
        sizes = s["frame_bytes"][s["direction"] == d]
        counts = np.unique(sizes, return_counts=True)[1].tolist()
        assert counts == synthetic.mix_counts(n, synthetic.IMIX)
    b = gen("bimodal", packets=3_001, offered_gbps=3.0, large_fraction=0.3)
    assert int((b["frame_bytes"] == 1518).sum()) == round(3_001 * 0.3)


def test_sequences_continue_across_blocks(small_blocks: None) -> None:
    s = gen("sequence", packets=2_999, offered_gbps=1.0, sizes="aaag")
    assert s["frame_bytes"].tolist() == np.resize([64, 64, 64, 1518], 2_999).tolist()


def test_streams_whose_draws_keep_their_order_are_the_frames_drawn_whole(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # bulk draws nothing; fixed and sequence of one VM draw only flows, in the same order
    # block by block as drawn whole (a draw of one VM of one takes nothing)
    for name, params in (("fixed", CASES["fixed"]), ("bulk", CASES["bulk"]),
                         ("sequence", dict(packets=2_999, offered_pps=300_000, sizes="ag",
                                           direction="both"))):
        whole_drawn = gen(name, **params)
        monkeypatch.setattr(synthetic, "BLOCK", 700)
        assert (gen(name, **params) == whole_drawn).all(), name
        monkeypatch.setattr(synthetic, "BLOCK", 1 << 20)


def test_block_rates_are_the_offered_rates(small_blocks: None) -> None:
    s = gen("imix", packets=5_000, offered_pps=250_000, arrival="poisson")
    assert summarize(s).pps == pytest.approx(250_000, rel=0.05)
    on = gen("fixed", packets=5_000, offered_gbps=2.0, arrival="onoff", burst=64)
    gaps = np.diff(on["time_ns"].astype(np.int64))
    # within bursts (whole in a block: a block is a number of bursts) the frames are back
    # to back at link speed
    assert (gaps[np.arange(len(gaps)) % 64 != 63] <= 68).all()
    assert summarize(on).gbps == pytest.approx(2.0, rel=0.1)


@pytest.mark.parametrize("params", [dict(requests=3_000, clients=4, vms=2),
                                    dict(requests=2_500, clients=600, think_ns=500,
                                         direction="tx"),
                                    dict(requests=1_001, clients=1, think_ns=0)])
def test_rpc_in_blocks_keeps_its_schedule(params: dict[str, Any], small_blocks: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    s = gen("rpc", **params)
    validate(s)  # one request then one response per exchange, of the same VM
    n = params["requests"]
    assert len(s) == 2 * n
    req = s[s["role"] == 1]
    assert req["xid"].tolist() == list(range(1, n + 1))  # numbered in time order
    rsp = s[s["role"] == 2]
    back = rsp[np.argsort(rsp["xid"])]
    gap = (back["time_ns"].astype(np.int64) - req["time_ns"].astype(np.int64))
    assert (gap == gap[0]).all()  # every response the request's wire time + service after
    # each client's exchanges are at least a whole exchange apart (request, service,
    # response), and every client has one
    port = req["dst_port"] if params.get("direction") == "tx" else req["src_port"]
    client = req["vm"].astype(np.int64) * params["clients"] + port.astype(np.int64) - 10_000
    assert len(np.unique(client)) == min(n, params["clients"] * params.get("vms", 1))
    order = np.lexsort((req["time_ns"], client))
    t, c = req["time_ns"][order].astype(np.int64), client[order]
    same = c[1:] == c[:-1]
    assert (np.diff(t)[same] >= gap[0]).all()
    monkeypatch.setenv("CODESIGN_STREAM_BYTES", "1000")
    parts = gen("rpc", **params)
    assert isinstance(parts, FrameChunks)
    assert (whole(parts) == s).all()


def test_rpc_in_one_block_is_rpc_drawn_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # think time 0 draws nothing that matters: the schedules agree exactly
    params = dict(requests=2_000, clients=3, think_ns=0)
    drawn_whole = gen("rpc", **params)
    monkeypatch.setattr(synthetic, "BLOCK", 100)
    assert (gen("rpc", **params) == drawn_whole).all()
