"""A mechanism's data path run with its frames handed to every stage a chunk at a time
(:func:`codesign.net.common.run_paths_chunked`) gives the metrics of the whole run, exactly,
for every NIC mechanism: receive and transmit, several VMs, super-frames, drops."""

from __future__ import annotations

from typing import Any

import pytest

import codesign.net.common as common

from .helpers import run, stream

MECHANISMS = ("native-net", "emulated", "pv-split", "multiqueue", "sriov", "vhost")
STREAMS = {
    "imix": dict(name="imix", packets=3_000, offered_gbps=9.0, vms=3),
    "bulk": dict(name="bulk", packets=3_000),
    "rpc": dict(name="rpc", requests=800),
    "overload": dict(name="fixed", packets=3_000, offered_gbps=10.0),
}


@pytest.mark.parametrize("workload", list(STREAMS))
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_chunked_paths_give_the_whole_runs_metrics(mechanism: str, workload: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    params = dict(STREAMS[workload])
    s = stream(params.pop("name"), **params)
    real = common.run_paths
    seen = []

    def both(*args: Any, **kw: Any) -> common.Run:
        whole = real(*args, **kw)
        want = dict(common.metrics(whole))
        for chunk in (1, 97, 1000, 10_000):
            got = dict(common.metrics(common.run_paths_chunked(*args, chunk=chunk, **kw)))
            assert got == want, (chunk, {k: (got.get(k), v) for k, v in want.items()
                                         if got.get(k) != v})
        seen.append(len(whole.stream))
        return whole

    monkeypatch.setattr(common, "run_paths", both)
    run(mechanism, s)
    assert seen
