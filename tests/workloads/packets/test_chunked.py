"""A packet stream in pieces (:mod:`workloads.packets.chunked`): every pass is the stream."""

from __future__ import annotations

import numpy as np

from workloads.packets.chunked import FrameChunks, pieces, split, whole
from workloads.packets.frames import empty


def test_split_passes_join_to_the_stream_every_time() -> None:
    s = empty(10)
    s["time_ns"] = np.arange(10)
    parts = split(s, [0, 3, 3, 9])
    assert isinstance(parts, FrameChunks) and len(parts) == 10
    for _ in range(2):
        assert [len(p) for p in parts] == [0, 3, 0, 6, 1]
        assert (whole(parts) == s).all()
    assert [len(p) for p in pieces(s)] == [10]
    assert whole(s) is s
    assert len(whole(FrameChunks(lambda: iter(()), 0, "none"))) == 0
