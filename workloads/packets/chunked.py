"""Packet streams too large to hold: the same stream, made again piece by piece.

A packet stream is one array of 56-byte records (:mod:`workloads.packets.frames`): the
largest a workload may ask for, 1e8 frames, is 5.6 GB, and its run would keep as much again.
A workload whose stream is larger than :func:`~codesign.inputfile.stream_limit` returns a
:class:`FrameChunks` instead: every iteration is a new pass over its source (the generator
run again block by block, or the capture read again), yielding consecutive pieces of the one
stream, each in time order and none before the previous one's last frame. Joined, the
pieces of a pass are exactly the array the workload returns whole (tested), so whether a
stream arrives whole or in pieces changes no result: the NIC mechanisms run it through the
same stages a piece at a time (:func:`codesign.net.streamed.run_stream`).

>>> from workloads.packets.frames import empty
>>> s = empty(5); s["time_ns"] = [0, 1, 2, 3, 4]
>>> parts = split(s, [2, 2, 4])
>>> [len(p) for p in parts], len(parts)
([2, 0, 2, 1], 5)
>>> bool((whole(parts) == s).all())
True
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from workloads.packets.frames import empty


@dataclass(frozen=True)
class FrameChunks:
    """A packet stream as a source of pieces: ``passes()`` starts a new pass, whose pieces
    joined are the stream; ``frames`` counts it; ``identity`` names what it is a function of
    (two streams with one identity are equal)."""

    passes: Callable[[], Iterator[np.ndarray]]
    frames: int
    identity: str

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.passes()

    def __len__(self) -> int:
        return self.frames


Stream = np.ndarray | FrameChunks
"""What a packet workload returns and a NIC mechanism takes: a whole stream or its pieces."""


def pieces(stream: Stream) -> Iterator[np.ndarray]:
    """One pass over a stream: the whole array as one piece, or a new pass of its pieces."""
    if isinstance(stream, FrameChunks):
        yield from stream
    else:
        yield stream


def whole(stream: Stream) -> np.ndarray:
    """The stream as one array (its memory grows with the stream's length)."""
    if not isinstance(stream, FrameChunks):
        return stream
    parts = list(stream)
    return np.concatenate(parts) if parts else empty()


def split(stream: np.ndarray, at: Sequence[int], identity: str = "split") -> FrameChunks:
    """A whole stream as pieces cut before the given positions (tests, examples)."""
    bounds = [0, *sorted(int(a) for a in at), len(stream)]

    def passes() -> Iterator[np.ndarray]:
        for lo, hi in itertools.pairwise(bounds):
            yield stream[lo:hi]

    return FrameChunks(passes, len(stream), identity)


__all__ = ["FrameChunks", "Stream", "pieces", "split", "whole"]
