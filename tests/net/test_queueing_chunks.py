"""The queueing simulation handed its packets a chunk at a time -- each call carrying only
the packets still inside to the next, renumbered -- gives exactly the result of handing it
all at once: on every NIC mechanism's paths (NAPI holds, notifications, batches, offload
aggregates, receive and transmit sharing cores, drops at full rings), for chunks of one
packet up to more than the stream."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import codesign.net.common as common
from codesign.net import queueing
from codesign.net.queueing import Result

from .helpers import run, stream

MECHANISMS = ("native-net", "emulated", "pv-split", "multiqueue", "sriov", "vhost")
STREAMS = {
    "imix": dict(name="imix", packets=3_000, offered_gbps=9.0, vms=3),
    "bulk": dict(name="bulk", packets=3_000),
    "overload": dict(name="fixed", packets=3_000, offered_gbps=10.0),
}
FIELDS = ("depart_ns", "drop_stage", "busy_ns", "stage_busy_ns", "served", "batches", "irqs",
          "raised", "log_ns", "log_stage", "log_kind", "joined")


def same(a: Result, b: Result) -> None:
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        if x is None or y is None:  # the one-stage FIFO (a wire) logs nothing
            assert x is None and y is None, f
            continue
        assert x.dtype == y.dtype, f
        np.testing.assert_array_equal(x, y, err_msg=f)


@pytest.mark.parametrize("workload", list(STREAMS))
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_chunks_of_every_size_give_the_whole_runs_result(
        mechanism: str, workload: str, monkeypatch: pytest.MonkeyPatch) -> None:
    params = dict(STREAMS[workload])
    s = stream(params.pop("name"), **params)
    calls: list[int] = []

    def both(*args: Any, **kw: Any) -> Result:
        whole = queueing.simulate(*args, **kw)
        n = len(whole.arrival_ns)
        for chunk in (1, 7, 500, n + 1):
            same(queueing.simulate(*args, chunk=chunk, **kw), whole)
        calls.append(n)
        return whole

    monkeypatch.setattr(common, "simulate", both)
    run(mechanism, s)
    assert len(calls) >= 2  # the wire and the host paths


def test_a_run_that_drops_and_holds_across_every_boundary() -> None:
    """Ring drops and NAPI holds with a chunk of one: every packet crosses a boundary."""
    from codesign.net.graph import DataPath, Resource, Stage

    cpu = Resource("cpu", "core", 1e9, domain="host")
    path = DataPath((Stage("ring", cpu, 50, capacity=4), Stage("stack", cpu, 120)),
                    hold_before="ring")
    rng = np.random.default_rng(3)
    arrival = np.cumsum(rng.choice([0.0, 10.0, 40.0, 400.0], 2_000))
    size = rng.integers(64, 1519, 2_000)
    napi = {"ring": queueing.Napi(300.0, 3)}
    whole = queueing.simulate([path], arrival, size, napi=napi)
    assert whole.drops > 0 and whole.raised is not None and int(whole.raised.sum()) > 10
    for chunk in (1, 2, 33):
        same(queueing.simulate([path], arrival, size, napi=napi, chunk=chunk), whole)


def test_a_stream_fed_a_chunk_at_a_time_reports_each_packet_once() -> None:
    """What a consumer that holds no per-packet array of the stream sees: each call returns
    the packets that finished (numbers, departures, drop stages); together they are the
    whole run's, every packet exactly once, and only the packets still inside are held."""
    from codesign.net.graph import DataPath, Resource, Stage

    cpu = Resource("cpu", "core", 1e9, domain="host")
    path = DataPath((Stage("ring", cpu, 50, capacity=6), Stage("stack", cpu, 140)),
                    hold_before="ring")
    rng = np.random.default_rng(8)
    n = 3_000
    arrival = np.cumsum(rng.choice([0.0, 10.0, 60.0, 500.0], n))
    size = rng.integers(64, 1519, n)
    napi = {"ring": queueing.Napi(250.0, 4)}
    whole = queueing.simulate([path], arrival, size, napi=napi)
    sim = queueing.Simulation([path], napi=napi)
    seen = np.zeros(n, dtype=np.int64)
    depart = np.full(n, np.nan)
    drop = np.full(n, -1, dtype=np.int64)
    most_inside = 0
    for lo in range(0, n, 250):
        hi = min(n, lo + 250)
        out = sim.feed(arrival[lo:hi], size[lo:hi], np.zeros(hi - lo, dtype=np.int64),
                       horizon=arrival[hi] if hi < n else np.inf)
        assert out is not None
        numbers, dep, drp = out
        seen[numbers] += 1
        depart[numbers], drop[numbers] = dep, drp
        most_inside = max(most_inside, len(sim._inside))
    assert (seen == 1).all() and sim.fed == n
    np.testing.assert_array_equal(depart, whole.depart_ns)
    np.testing.assert_array_equal(drop, whole.drop_stage)
    same(sim.result(arrival, depart, drop), whole)
    assert 0 < most_inside <= 6  # the ring's packets, never the stream
