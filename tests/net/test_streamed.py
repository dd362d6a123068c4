"""A mechanism's data path run with its frames handed to every stage a chunk at a time
(:func:`codesign.net.streamed.run_stream`) gives the metrics of the whole run, exactly, for
every NIC mechanism: receive and transmit, several VMs, super-frames, drops; whether the
stream is whole or comes in pieces of any size."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import codesign.net.common as common
from codesign.net.streamed import run_stream
from workloads.packets.chunked import split

from .helpers import run, stream

MECHANISMS = ("native-net", "emulated", "pv-split", "multiqueue", "sriov", "vhost")
STREAMS = {
    "imix": dict(name="imix", packets=3_000, offered_gbps=9.0, vms=3),
    "bulk": dict(name="bulk", packets=3_000),
    "rpc": dict(name="rpc", requests=800),
    "overload": dict(name="fixed", packets=3_000, offered_gbps=10.0),
    # 9000-byte records on a 1500-byte MTU: super-frames, cut into 7 frames each, whose
    # segments overtake later records (and the cuts between pieces)
    "superframes": dict(name="fixed", packets=600, frame_bytes=9000, offered_gbps=9.0,
                        direction="both", vms=2, arrival="poisson"),
}


@pytest.mark.parametrize("workload", list(STREAMS))
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_chunked_paths_give_the_whole_runs_metrics(mechanism: str, workload: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    params = dict(STREAMS[workload])
    s = stream(params.pop("name"), **params)
    real = common.run_paths
    seen = []

    def both(s: np.ndarray, *args: Any, **kw: Any) -> common.Run:
        whole = real(s, *args, **kw)
        want = dict(common.metrics(whole))
        n = len(s)
        for chunk, source in ((1, s), (97, s), (1000, split(s, [n // 3, n // 3, n - 5])),
                              (10_000, split(s, range(0, n, 701)))):
            got = dict(common.metrics(run_stream(source, *args, chunk=chunk, **kw)))
            assert got == want, (chunk, {k: (got.get(k), v) for k, v in want.items()
                                         if got.get(k) != v})
        seen.append(whole.superframes)
        return whole

    monkeypatch.setattr(common, "run_paths", both)
    run(mechanism, s)
    assert seen and (seen[0] > 0) == (workload == "superframes")
